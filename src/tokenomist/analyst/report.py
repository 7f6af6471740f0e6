"""The answer: a structured report (DESIGN §6: ``window, spend_usd, monthly_run_rate_usd,
monthly_savings_usd, savings_pct, strategies, actions, unpriced_requests`` + context) and the
same content as markdown for people. Every figure comes from the run's queries; nothing is
added here but arithmetic (sums, 30-day normalisation, shares)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenomist.analyst.agents.base import RunState

MAX_TABLE_ROWS = 10


def _money(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def build(state: RunState, price_data: str) -> dict[str, Any]:
    w = state.window
    totals = state.totals or {}
    # None when every request of the window is unpriced: unknown, not $0.
    cost = totals.get("cost_usd", 0.0)
    spend = None if cost is None else float(cost)
    analysed = state.strategies is not None
    strategies = state.strategies or []
    savings = sum(s["savings_usd"] for s in strategies)
    monthly_savings = sum(s["monthly_savings_usd"] for s in strategies)
    unpriced = int(totals.get("unpriced_requests", state.coverage.get("unpriced_requests", 0)))
    assumptions = _assumptions(state, price_data, unpriced)
    return {
        "question": state.question,
        "no_usage": not state.coverage.get("requests"),
        "intent": state.intent.to_dict() if state.intent else None,
        "window": w.to_dict() if w else None,
        "filters": dict(state.filters.values),
        "requests": int(totals.get("requests", 0)),
        "spend_usd": _money(spend),
        "monthly_run_rate_usd": (None if spend is None else _money(w.monthly(spend))) if w else 0.0,
        "savings_usd": _money(savings) if analysed else None,
        "monthly_savings_usd": _money(monthly_savings) if analysed else None,
        "savings_pct": (round(savings / spend * 100, 2) if spend else 0.0) if analysed else None,
        "strategies": strategies,
        "strategies_checked": state.strategies_checked,
        "actions": [
            {k: a[k] for k in ("title", "strategy_id", "effort", "risk", "monthly_savings_usd")}
            for a in state.actions
        ],
        "unpriced_requests": unpriced,
        "breakdown": state.breakdown,
        "time_series": state.series,
        "top_cost_drivers": state.drivers,
        "profiles": state.profiles,
        "assumptions": assumptions,
        "llm": state.llm,
        "price_data": price_data,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _assumptions(state: RunState, price_data: str, unpriced: int) -> list[str]:
    out = [
        f"Money is USD as priced by the pricing module at ingest ({price_data}); savings are "
        "the same tokens re-priced under each change.",
    ]
    w = state.window
    if w is not None:
        if w.anchor == "latest_usage":
            out.append(
                f"Periods are measured back from the latest usage record ({_time(w.end)}), "
                "not from the clock."
            )
        out.append(f"Monthly figures scale the window's {w.days:.2f} days to 30 days.")
        if w.days < 1:
            out.append(
                f"The window covers less than a day ({w.days * 24:.1f} hours); monthly figures "
                "extrapolate it and are rough until more usage arrives."
            )
    if unpriced:
        out.append(
            f"{unpriced:,} requests use models the price data does not know; they are counted "
            "as unpriced and left out of every dollar figure (not treated as $0)."
        )
    out.extend(state.notes)
    for s in state.strategies or []:
        out.extend(f"{s['id']}: {a}" for a in s["assumptions"])
    for reason in state.llm.get("fallbacks", []):
        out.append(f"The language model was not used ({reason}); the deterministic path answered.")
    return out


# -- markdown --------------------------------------------------------------------------------


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _time(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _scope_label(scope: dict[str, Any]) -> str:
    where = "/".join(x for x in (scope.get("project"), scope.get("feature")) if x)
    model = f"{scope.get('provider', '')} {scope.get('model', '')}".strip()
    return f"{where} ({model})" if where else model


def render(report: dict[str, Any], narrative: str | None = None) -> str:
    if report["window"] is None or report.get("no_usage"):
        return (
            "## No usage data yet\n\nThis organisation has no LLM usage recorded, so there is "
            "nothing to analyse. Send usage to `POST /api/v1/usage` (or import a file) and ask "
            "again."
        )
    if report["intent"] and report["intent"]["kind"] == "spend":
        body = _render_spend(report)
    else:
        body = _render_plan(report)
    if narrative:
        head, _, rest = body.partition("\n\n")
        body = f"{head}\n\n{narrative.strip()}\n\n{rest}"
    return body + "\n\n" + _render_assumptions(report)


def _headline(report: dict[str, Any]) -> str:
    w = report["window"]
    text = (
        f"Spend **{_usd(report['spend_usd'])}** from {_time(w['from'])} to {_time(w['to'])} "
        f"({w['days']:g} days, {report['requests']:,} requests) — monthly run-rate "
        f"**{_usd(report['monthly_run_rate_usd'])}**."
    )
    if report["unpriced_requests"]:
        text += f" {report['unpriced_requests']:,} requests are unpriced (unknown model)."
    return text


def _render_plan(report: dict[str, Any]) -> str:
    w = report["window"]
    filters = ", ".join(f"{k}={v}" for k, v in report["filters"].items())
    title = f"## Savings plan — {w['label']}" + (f" ({filters})" if filters else "")
    lines = [title, "", _headline(report)]
    strategies = report["strategies"]
    if not strategies:
        checked = len(report["strategies_checked"])
        lines += [
            "",
            f"No savings found: none of the {checked} strategies found anything worth "
            "changing in this window.",
        ]
        return "\n".join(lines)
    lines += [
        "",
        f"Savings found: **{_usd(report['monthly_savings_usd'])}/month** "
        f"(**{report['savings_pct']:g}%** reduction) from {len(strategies)} strategies, "
        "combined without double counting.",
        "",
        "| # | Strategy | Scope | $/month | % of spend | Confidence |",
        "|---|---|---|---:|---:|---|",
    ]
    for i, s in enumerate(strategies, 1):
        scope = _scope_label(s["scope"][0]) if s["scope"] else ""
        if len(s["scope"]) > 1:
            scope += f" +{len(s['scope']) - 1} more"
        lines.append(
            f"| {i} | {s['title']} | {scope} | {_usd(s['monthly_savings_usd'])} | "
            f"{s['savings_pct']:g}% | {s['confidence']} |"
        )
    lines += ["", "### Actions", ""]
    for i, a in enumerate(report["actions"], 1):
        lines.append(
            f"{i}. {a['title']} — effort **{a['effort']}**, risk **{a['risk']}**, "
            f"{_usd(a['monthly_savings_usd'])}/month (`{a['strategy_id']}`)"
        )
    return "\n".join(lines)


def _render_spend(report: dict[str, Any]) -> str:
    w = report["window"]
    filters = ", ".join(f"{k}={v}" for k, v in report["filters"].items())
    title = "## Spend" + (f" on {filters}" if filters else "") + f" — {w['label']}"
    lines = [title, "", _headline(report)]
    b = report.get("breakdown")
    if b and b["groups"]:
        dim = b["dimension"]
        # Groups without any price are listed as unpriced and left out of the shares.
        total = sum(g["cost_usd"] for g in b["groups"] if g["cost_usd"] is not None)
        priced = [g for g in b["groups"] if g["cost_usd"] is not None]
        lines.append("")
        if priced:
            top = priced[0]
            name = top["key"][dim] or "(none)"
            share = top["cost_usd"] / total * 100 if total else 0.0
            lines.append(
                f"Largest {dim}: **{name}** at {_usd(top['cost_usd'])} ({share:.1f}% of spend)."
            )
        else:
            lines.append(f"No {dim} has a price: every request is unpriced (unknown model).")
        lines += ["", f"| {dim} | requests | cost | share |", "|---|---:|---:|---:|"]
        for g in b["groups"][:MAX_TABLE_ROWS]:
            if g["cost_usd"] is None:
                cost, share_text = f"unpriced ({g['unpriced_requests']:,} requests)", "n/a"
            else:
                share = g["cost_usd"] / total * 100 if total else 0.0
                cost, share_text = _usd(g["cost_usd"]), f"{share:.1f}%"
            lines.append(
                f"| {g['key'][dim] or '(none)'} | {g['requests']:,} | {cost} | {share_text} |"
            )
        if len(b["groups"]) > MAX_TABLE_ROWS:
            lines.append(f"| … {len(b['groups']) - MAX_TABLE_ROWS} more | | | |")
    series = report.get("time_series")
    if series:
        lines += ["", "| day | requests | cost |", "|---|---:|---:|"]
        lines += [
            f"| {p['bucket']} | {p['requests']:,} | "
            f"{'unpriced' if p['cost_usd'] is None else _usd(p['cost_usd'])} |"
            for p in series
        ]
    return "\n".join(lines)


def _render_assumptions(report: dict[str, Any]) -> str:
    return "### Assumptions\n\n" + "\n".join(f"- {a}" for a in report["assumptions"])
