"""The answer: a structured report (DESIGN §6: ``window, spend_usd, monthly_run_rate_usd,
monthly_savings_usd, savings_pct, strategies, actions, unpriced_requests`` + context) and the
same content as markdown for people (``render``). Every figure comes from the run's queries;
nothing is added here but arithmetic (sums, 30-day normalisation from the days with traffic,
shares) and the statements of what the answer covers and leaves out."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tokenomist.analyst import fmt
from tokenomist.analyst.agents.base import RunState
from tokenomist.analyst.render import render  # noqa: F401  (the report's markdown)


def _money(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def build(state: RunState, price_data: str) -> dict[str, Any]:
    w = state.window
    totals = state.totals or {}
    # None when every request of the window is unpriced: unknown, not $0.
    intent = state.intent
    answerable = bool(intent and intent.kind != "help" and not intent.unmatched)
    cost = totals.get("cost_usd", 0.0)
    # No figure at all for a question that was not answered (never a silent $0).
    spend = None if cost is None or not answerable else float(cost)
    analysed = state.strategies is not None
    strategies = _strategies(state)
    savings = sum(s["savings_usd"] for s in strategies)
    monthly_savings = sum(s["monthly_savings_usd"] for s in strategies)
    unpriced = int(totals.get("unpriced_requests", state.coverage.get("unpriced_requests", 0)))
    return {
        "question": state.question,
        "no_usage": not state.coverage.get("requests"),
        "answerable": answerable,
        "intent": intent.to_dict() if intent else None,
        "window": w.to_dict() if w else None,
        "filters": state.filters.to_json(),
        "exclude": state.filters.exclude_json(),
        "matches": list(intent.matches) if intent else [],
        "unmatched": list(intent.unmatched) if intent else [],
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
        "scope": _jsonable(state.scope),
        "left_out": _jsonable(
            {k: state.left_out[k] for k in ("before", "after") if k in state.left_out}
        ),
        "gaps": state.gaps,
        "statements": statements(state),
        "breakdown": state.breakdown,
        "time_series": state.series,
        "comparison": _comparison(state),
        "what_if": _what_if(state),
        "unpriced_models": _jsonable(state.unpriced),
        "why": _why(state),
        "anomalies": state.anomalies,
        "budgets": _jsonable(state.budgets),
        "top_cost_drivers": state.drivers,
        "profiles": state.profiles,
        "assumptions": _assumptions(state, price_data, unpriced),
        "llm": state.llm,
        "price_data": price_data,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def _strategies(state: RunState) -> list[dict[str, Any]]:
    """The combined strategies, with each total restated as the sum of its scope's monthly
    figures (so the table and the actions agree to the cent) and confidence capped by how
    much data the window holds."""
    out = copy.deepcopy(state.strategies or [])
    w = state.window
    requests = int((state.totals or {}).get("requests", 0))
    busy = state.busy_days if state.busy_days is not None else (w.days if w else 0.0)
    ceiling, why = fmt.confidence_ceiling(requests, busy)
    for s in out:
        if s["scope"]:
            s["monthly_savings_usd"] = _money(sum(c["monthly_savings_usd"] for c in s["scope"]))
        capped = fmt.cap_confidence(s["confidence"], ceiling)
        if capped != s["confidence"]:
            s["confidence_note"] = f"{s['confidence']} on its own; {capped} on {why}"
            s["confidence"] = capped
    return out


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ask_about(side: dict[str, Any]) -> str:
    lo, hi = side["earliest"], side["latest"]
    if lo and hi and (lo.year, lo.month) == (hi.year, hi.month):
        return f"'{hi:%B %Y}'"
    if lo and hi:
        return f"'between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}'"
    return "'all data'"


def statements(state: RunState) -> list[str]:
    """What the answer covers: its window, its filters, and what it leaves out."""
    w, intent = state.window, state.intent
    if w is None or intent is None or not state.coverage.get("requests"):
        return []
    if intent.kind == "help" or intent.unmatched:
        return []
    anchor = {
        "latest_usage": ", measured back from the latest usage record",
        "now": ", measured back from now",
    }
    windows = state.windows if intent.kind == "compare" and state.windows else [w]
    out = [
        f"Window: {x.label}, {_when(x.start)} to {_when(x.end)} "
        f"({fmt.duration((x.end - x.start).total_seconds())}){anchor.get(x.anchor, '')}."
        for x in windows
    ]
    if state.filters:
        out.append(f"Filters: {state.filters.describe()}.")
    else:
        out.append("Filters: none (every provider, model, project, feature and end user).")
    for m in intent.matches:
        out.append(f"Read as a {m}." if m.startswith("follow-up") else f"Matched {m}.")
    # (a comparison of two periods covers more than its first window: nothing to add)
    for key, where in () if len(windows) > 1 else (("before", "before"), ("after", "after")):
        side = state.left_out.get(key)
        if side and side["requests"]:
            out.append(
                f"{fmt.plural(side['requests'], 'request')} {where} this window "
                f"({fmt.money(side['cost_usd'])}) are not included — ask about 'all data' or "
                f"{_ask_about(side)}."
            )
    if state.gaps:
        missing = sum(g["days"] for g in state.gaps)
        spans = "; ".join(
            g["from"] if g["from"] == g["to"] else f"{g['from']} to {g['to']}"
            for g in state.gaps[:3]
        )
        more = f" and {len(state.gaps) - 3} more" if len(state.gaps) > 3 else ""
        out.append(
            f"No traffic on {fmt.plural(missing, 'day')} of the window ({spans}{more}); "
            f"monthly figures come from the {fmt.days(w.days)} with traffic."
        )
    return out


def _comparison(state: RunState) -> dict[str, Any] | None:
    if not state.sides:
        return None
    a, b = state.sides
    delta = None
    if a["cost_usd"] is not None and b["cost_usd"] is not None:
        delta = a["cost_usd"] - b["cost_usd"]
    pct = (delta / b["cost_usd"] * 100) if delta is not None and b["cost_usd"] else None
    return {
        "sides": state.sides,
        "delta_usd": _money(delta),
        "delta_pct": None if pct is None else round(pct, 2),
    }


def _what_if(state: RunState) -> dict[str, Any] | None:
    if state.what_if is None:
        return None
    d = dict(state.what_if)
    d["difference_usd"] = _money(d["cost_usd"] - d["actual_cost_usd"])
    w = state.window
    if w is not None:
        d["monthly_cost_usd"] = _money(w.monthly(d["cost_usd"]))
        d["monthly_actual_usd"] = _money(w.monthly(d["actual_cost_usd"]))
    d["cost_usd"], d["actual_cost_usd"] = _money(d["cost_usd"]), _money(d["actual_cost_usd"])
    return d


def _why(state: RunState) -> dict[str, Any] | None:
    if not state.intent or state.intent.kind != "why":
        return None
    before = {_key(d): d for d in state.drivers_before}
    changes = []
    for d in state.drivers:
        prev = before.get(_key(d), {})
        now_cost, then_cost = d["cost_usd"] or 0.0, prev.get("cost_usd") or 0.0
        changes.append(
            {**d, "cost_before_usd": _money(then_cost), "change_usd": _money(now_cost - then_cost)}
        )
    return {
        "before_window": state.windows[1].to_dict() if len(state.windows) > 1 else None,
        "spend_before_usd": _money((state.totals_before or {}).get("cost_usd")),
        "drivers": changes,
    }


def _key(d: dict[str, Any]) -> tuple:
    return (d["provider"], d["model"], d["project"], d["feature"])


def _assumptions(state: RunState, price_data: str, unpriced: int) -> list[str]:
    out = [
        f"Money is USD as priced by the pricing module at ingest ({price_data}); savings are "
        "the same tokens re-priced under each change.",
    ]
    w = state.window
    if w is not None and state.coverage.get("requests"):
        if w.anchor == "latest_usage":
            out.append(
                f"Periods are measured back from the latest usage record ({_when(w.end)}), "
                "not from the clock."
            )
        out.append(f"Monthly figures scale the {fmt.days(w.days)} with traffic to 30 days.")
        busy = state.busy_days if state.busy_days is not None else w.days
        if busy < 1:
            out.append(
                f"The traffic lasted {fmt.days(busy)}; monthly figures extrapolate it and are "
                "rough until more usage arrives."
            )
    if unpriced:
        out.append(
            f"{fmt.plural(unpriced, 'request')} use models the price data does not know; they "
            "are counted as unpriced and left out of every dollar figure (not treated as $0)."
        )
    out.extend(state.notes)
    for s in state.strategies or []:
        out.extend(f"{s['id']}: {a}" for a in s["assumptions"])
    for reason in state.llm.get("fallbacks", []):
        out.append(f"The language model was not used ({reason}); the deterministic path answered.")
    return out
