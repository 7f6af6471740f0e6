"""The report as markdown for people. Works on the structured report alone (so the stored
report can be re-rendered) and formats every figure through ``fmt``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenomist.analyst import fmt

MAX_TABLE_ROWS = 10
EXAMPLES = [
    "How can we cut our AI spend?",
    "What did we spend on Claude models last week?",
    "Which feature costs most?",
    "Top 5 end users in November 2023",
    "This month vs last month",
    "What would support-triage cost on gpt-4o-mini?",
    "Which models are unpriced?",
]
TOPICS = (
    "spend and savings over your usage data: totals by model, provider, project, feature, "
    'end user or day; a period ("last week", "in November 2023", "between 2023-11-01 and '
    '2023-11-30", "Q3", "since Monday"); rankings; two periods or two models side by side; '
    "what a workload would cost on another model; which models are unpriced"
)


def _time(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _scope_label(scope: dict[str, Any]) -> str:
    where = "/".join(x for x in (scope.get("project"), scope.get("feature")) if x)
    model = f"{scope.get('provider', '')} {scope.get('model', '')}".strip()
    return f"{where} ({model})" if where else model


def render(report: dict[str, Any], narrative: str | None = None) -> str:
    if report.get("no_usage"):
        return (
            "## No usage data yet\n\nThis organisation has no LLM usage recorded, so there is "
            "nothing to analyse. Send usage to `POST /api/v1/usage` (or import a file) and ask "
            "again."
        )
    intent = report["intent"] or {}
    if intent.get("kind") == "help":
        return _render_help(report)
    if report["unmatched"]:
        return _render_unmatched(report)
    if not report["scope"].get("requests"):
        return _render_empty_scope(report)
    body = {
        "spend": _render_spend,
        "compare": _render_compare,
        "what_if": _render_what_if,
        "unpriced": _render_unpriced,
        "why": _render_why,
        "anomalies": _render_anomalies,
        "budget": _render_budget,
    }.get(str(intent.get("kind")), _render_plan)(report)
    if narrative:
        head, _, rest = body.partition("\n\n")
        body = f"{head}\n\n{narrative.strip()}\n\n{rest}"
    return body + "\n\n" + _render_scope(report) + "\n\n" + _render_assumptions(report)


def _render_help(report: dict[str, Any]) -> str:
    examples = "\n".join(f"- “{e}”" for e in EXAMPLES)
    return (
        "## I can't answer that from usage data\n\n"
        f"I can answer questions about {TOPICS}. For example:\n\n{examples}"
    )


def _render_unmatched(report: dict[str, Any]) -> str:
    lines = ["## Nothing matches that name", ""]
    for u in report["unmatched"]:
        near = ", ".join(f"`{n}`" for n in u["nearest"]) or "none recorded"
        label = u["column"].replace("_", " ")
        lines.append(
            f"- No {label} in this organisation's usage matches “{u['text']}”; the nearest "
            f"{label} names are: {near}."
        )
    lines += ["", "No figures are shown for a name that matches nothing (they would be zero "
              "for the wrong reason). Ask again with one of the names above."]  # fmt: skip
    return "\n".join(lines)


def _render_empty_scope(report: dict[str, Any]) -> str:
    filters = ", ".join(f"{k}={v}" for k, v in report["filters"].items())
    return (
        f"## No usage matches {filters}\n\nEach of these names is in the data, but no request "
        "has all of them together, at any time. Ask about one of them on its own."
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _headline(report: dict[str, Any]) -> str:
    w = report["window"]
    seconds = (_parse(w["to"]) - _parse(w["from"])).total_seconds()
    span = fmt.duration(seconds)
    shown = "%Y-%m-%d %H:%M:%S UTC" if seconds < 3600 else "%Y-%m-%d %H:%M UTC"
    text = (
        f"Spend **{fmt.money(report['spend_usd'])}** from {_parse(w['from']).strftime(shown)} "
        f"to {_parse(w['to']).strftime(shown)} ({span}, "
        f"{fmt.plural(report['requests'], 'request')}) — monthly "
        f"run-rate **{fmt.per_month(report['monthly_run_rate_usd'])}**"
    )
    if abs(w["active_days"] - w["days"]) > 0.01 and w["days"] >= 1:
        text += f" (from the {fmt.days(w['active_days'])} with traffic)"
    text += "."
    if report["unpriced_requests"]:
        text += (
            f" {fmt.plural(report['unpriced_requests'], 'request')} are unpriced (unknown model)."
        )
    if not report["requests"]:
        text = (
            f"No requests in this window ({_time(w['from'])} to {_time(w['to'])}); see below "
            "for where this scope's usage is."
        )
    return text


def _title(kind: str, report: dict[str, Any]) -> str:
    w = report["window"]
    filters = ", ".join(
        f"{k}={v if isinstance(v, str) else '|'.join(v)}" for k, v in report["filters"].items()
    )
    return f"## {kind}" + (f" on {filters}" if filters else "") + f" — {w['label']}"


def _render_plan(report: dict[str, Any]) -> str:
    lines = [_title("Savings plan", report), "", _headline(report)]
    strategies = report["strategies"]
    if not strategies:
        checked = len(report["strategies_checked"])
        lines += ["", f"No savings found: none of the {fmt.plural(checked, 'strategy')} found "
                  "anything worth changing in this window."]  # fmt: skip
        return "\n".join(lines)
    lines += [
        "",
        f"Savings found: **{fmt.per_month(report['monthly_savings_usd'])}** "
        f"(**{fmt.pct(report['savings_pct'])}** reduction) from "
        f"{fmt.plural(len(strategies), 'strategy')}, combined without double counting.",
        "",
        "| # | Strategy | Scope | $/month | % of spend | Confidence |",
        "|---|---|---|---:|---:|---|",
    ]
    for i, s in enumerate(strategies, 1):
        scope = _scope_label(s["scope"][0]) if s["scope"] else ""
        if len(s["scope"]) > 1:
            scope += f" +{len(s['scope']) - 1} more"
        lines.append(
            f"| {i} | {s['title']} | {scope} | {fmt.money(s['monthly_savings_usd'])} | "
            f"{fmt.pct(s['savings_pct'])} | {s['confidence']} |"
        )
    notes = [f"- {s['title']}: confidence {s['confidence_note']}." for s in strategies
             if s.get("confidence_note")]  # fmt: skip
    if notes:
        lines += ["", *notes]
    lines += ["", "### Actions", ""]
    for i, a in enumerate(report["actions"], 1):
        lines.append(
            f"{i}. {a['title']} — effort **{a['effort']}**, risk **{a['risk']}**, "
            f"{fmt.per_month(a['monthly_savings_usd'])} (`{a['strategy_id']}`)"
        )
    return "\n".join(lines)


def _render_spend(report: dict[str, Any]) -> str:
    lines = [_title("Spend", report), "", _headline(report)]
    b = report.get("breakdown")
    if b and b["groups"]:
        lines += _breakdown(b, report)
    series = report.get("time_series")
    if series:
        lines += ["", "| day | requests | cost |", "|---|---:|---:|"]
        for p in series:
            cost = fmt.money(p["cost_usd"], unpriced="unpriced")
            lines.append(f"| {p['bucket']} | {p['requests']:,} | {cost} |")
    return "\n".join(lines)


def _breakdown(b: dict[str, Any], report: dict[str, Any]) -> list[str]:
    dim = b["dimension"]
    label = dim.replace("_", " ")
    # Shares are of the whole priced spend (a top-N list is part of it); groups without a
    # price are listed as unpriced and left out of the shares.
    total = report["spend_usd"] or 0.0
    priced = [g for g in b["groups"] if g["cost_usd"] is not None]
    lines = [""]
    if priced:
        top = priced[0]
        name = top["key"][dim] or "(none)"
        share = top["cost_usd"] / total * 100 if total else 0.0
        lines.append(
            f"Largest {label}: **{name}** at {fmt.money(top['cost_usd'])} "
            f"({fmt.pct(share)} of spend)."
        )
    else:
        lines.append(f"No {label} has a price: every request is unpriced (unknown model).")
    if b.get("limit"):
        lines.append(f"Top {fmt.plural(b['limit'], label)} by cost:")
    lines += ["", f"| {label} | requests | cost | share |", "|---|---:|---:|---:|"]
    rows = b["groups"] if b.get("limit") else b["groups"][:MAX_TABLE_ROWS]
    for g in rows:
        if g["cost_usd"] is None:
            cost, share_text = f"unpriced ({g['unpriced_requests']:,} requests)", "n/a"
        else:
            share = g["cost_usd"] / total * 100 if total else 0.0
            cost, share_text = fmt.money(g["cost_usd"]), fmt.pct(share)
        lines.append(f"| {g['key'][dim] or '(none)'} | {g['requests']:,} | {cost} | {share_text} |")
    if not b.get("limit") and len(b["groups"]) > MAX_TABLE_ROWS:
        lines.append(f"| … {len(b['groups']) - MAX_TABLE_ROWS} more | | | |")
    return lines


def _render_compare(report: dict[str, Any]) -> str:
    c = report["comparison"]
    a, b = c["sides"]
    ma, mb = fmt.money_pair(a["cost_usd"], b["cost_usd"])
    lines = [f"## {a['label']} vs {b['label']}", ""]
    lines += ["| | window | requests | cost |", "|---|---|---:|---:|"]
    for side, money in ((a, ma), (b, mb)):
        w = side["window"]
        lines.append(
            f"| {side['label']} | {_time(w['from'])} to {_time(w['to'])} | "
            f"{side['requests']:,} | {money} |"
        )
    if c["delta_usd"] is not None:
        direction = "more" if c["delta_usd"] > 0 else "less"
        pct = f" ({fmt.pct(abs(c['delta_pct']))})" if c["delta_pct"] is not None else ""
        sentence = f"{a['label']} cost {fmt.money(abs(c['delta_usd']))}{pct} {direction} "
        sentence += f"than {b['label']}."
        lines += ["", sentence[0].upper() + sentence[1:]]
    return "\n".join(lines)


def _render_what_if(report: dict[str, Any]) -> str:
    d = report["what_if"]
    new, old = fmt.money_pair(d["cost_usd"], d["actual_cost_usd"])
    lines = [_title(f"What if on {d['model']}", report), "", _headline(report), ""]
    lines.append(
        f"The same {fmt.plural(d['requests'], 'request')} (same tokens) priced on "
        f"**{d['provider']}/{d['model']}** would cost **{new}** instead of **{old}** "
        f"({fmt.per_month(d.get('monthly_cost_usd'))} instead of "
        f"{fmt.per_month(d.get('monthly_actual_usd'))})."
    )
    if d["unpriced_requests"]:
        lines.append(
            f"{fmt.plural(d['unpriced_requests'], 'request')} have no price as run, so the "
            "comparison covers the priced ones only for the actual figure."
        )
    b = report.get("breakdown")
    if b and b["groups"]:
        lines += _breakdown(b, report)
    return "\n".join(lines)


def _render_unpriced(report: dict[str, Any]) -> str:
    models = report["unpriced_models"] or []
    lines = [_title("Unpriced models", report), ""]
    if not models:
        lines.append("Every request in this window has a price: no model is unpriced.")
        return "\n".join(lines)
    lines.append(
        f"{fmt.plural(len(models), 'model')} the price data does not know "
        f"({fmt.plural(report['unpriced_requests'], 'request')}, left out of every dollar figure):"
    )
    lines += ["", "| provider | model | requests | input tokens | output tokens |",
              "|---|---|---:|---:|---:|"]  # fmt: skip
    for m in models:
        lines.append(
            f"| {m['provider']} | {m['model']} | {m['requests']:,} | {m['input_tokens']:,} | "
            f"{m['output_tokens']:,} |"
        )
    lines += ["", "Set a price for them in `TOKENOMIST_PRICE_OVERRIDES_FILE`."]
    return "\n".join(lines)


def _render_why(report: dict[str, Any]) -> str:
    y = report["why"]
    lines = [_title("Why", report), "", _headline(report), ""]
    if y["before_window"]:
        now, then = fmt.money_pair(report["spend_usd"], y["spend_before_usd"])
        bw = y["before_window"]
        lines.append(
            f"The same scope cost {then} in the period before ({_time(bw['from'])} to "
            f"{_time(bw['to'])}); now {now}."
        )
    lines += ["", "| where | model | cost | before | change |", "|---|---|---:|---:|---:|"]
    for d in y["drivers"]:
        where = "/".join(x for x in (d["project"], d["feature"]) if x) or "(none)"
        lines.append(
            f"| {where} | {d['model']} | {fmt.money(d['cost_usd'])} | "
            f"{fmt.money(d['cost_before_usd'])} | {fmt.money(d['change_usd'])} |"
        )
    return "\n".join(lines)


_CAUSE = {
    "volume": "more calls",
    "tokens_per_call": "more tokens per call",
    "model_mix": "calls moved to other models",
    "price": "a higher price per token",
}


def _render_anomalies(report: dict[str, Any]) -> str:
    found = report["anomalies"] or []
    lines = [_title("Spend anomalies", report), "", _headline(report), ""]
    if not found:
        lines.append(
            "No day in this window spent unusually: each stayed within the normal range of the "
            "same weekday over the previous weeks."
        )
        return "\n".join(lines)
    for a in found:
        w = a["window"]
        excess = a["actual_usd"] - a["expected_usd"]
        actual, expected = fmt.money_pair(a["actual_usd"], a["expected_usd"])
        lines += [
            f"### {a['dimension'].replace('_', ' ')} `{a['key']}` on {_time(w['from'])[:10]}",
            "",
            f"Spent **{actual}** against **{expected}** expected (the median of the same "
            f"{a['granularity']} in recent weeks): **{fmt.money(excess)}** more, "
            f"{a['score']:g} standard deviations above normal.",
            "",
            "| feature | cause | change |",
            "|---|---|---:|",
        ]
        for d in a["drivers"][:MAX_TABLE_ROWS]:
            lines.append(f"| {d['key'] or '(none)'} | {_CAUSE[d['cause']]} | "
                         f"{fmt.money(d['delta_usd'])} |")  # fmt: skip
        rest = a["drivers"][MAX_TABLE_ROWS:]
        if rest:
            lines.append(f"| {len(rest)} more | | {fmt.money(sum(d['delta_usd'] for d in rest))} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def amount_text(value: float) -> str:
    """A budget figure; a real zero (nothing spent yet) reads as $0, not as a rounded $0.00."""
    return "$0" if value == 0 else fmt.money(value)


def _render_budget(report: dict[str, Any]) -> str:
    data = report["budgets"] or {"budgets": [], "month_forecast": None}
    lines = [_title("Budgets", report), "", _headline(report), ""]
    m = data["month_forecast"]
    if m:
        lines.append(
            f"This month so far: **{amount_text(m['spent_usd'])}**; forecast for the month "
            f"**{amount_text(m['forecast_usd'])}** ({amount_text(m['low_usd'])} to "
            f"{amount_text(m['high_usd'])}; {m['basis']})."
        )
        lines.append("")
    if not data["budgets"]:
        lines.append("No budget is set: add one with `POST /api/v1/budgets` to be alerted.")
        return "\n".join(lines)
    lines += ["| budget | period | amount | spent | forecast | status |",
              "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for b in data["budgets"]:
        lines.append(
            f"| {b['name']} | {b['period']} | {amount_text(b['amount_usd'])} | "
            f"{amount_text(b['spent_usd'])} | {amount_text(b['forecast_usd'])} | "
            f"{b['status'].replace('_', ' ')} |"
        )
    return "\n".join(lines)


def _render_scope(report: dict[str, Any]) -> str:
    return "### What this covers\n\n" + "\n".join(f"- {s}" for s in report["statements"])


def _render_assumptions(report: dict[str, Any]) -> str:
    return "### Assumptions\n\n" + "\n".join(f"- {a}" for a in report["assumptions"])
