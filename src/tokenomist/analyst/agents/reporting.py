"""Reporting: the structured report and its markdown. With a language model configured it
may add a short narrative — accepted only if every dollar amount it cites is one of the
report's own figures; otherwise (or on any failure) the deterministic wording stands."""

from __future__ import annotations

import json
import re

from tokenomist.analyst import fmt
from tokenomist.analyst import report as report_mod
from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.llm import LLMError

NAME = "reporting"
NARRATIVE_SYSTEM = (
    "You are a FinOps analyst. Write 2-4 sentences for an engineering lead summarising the "
    "report you are given: where the money goes and what to do first. Use only figures that "
    "appear in the report, formatted like $1,234.56. No headings, no lists."
)
_DOLLARS = re.compile(r"\$\s?([0-9][0-9,]*(?:\.[0-9]+)?)")


async def run(ctx: RunContext, state: RunState) -> str:
    llm = ctx.deps.llm
    await think(ctx, NAME, "Writing the report from the figures above.")
    if llm.enabled:
        await think(ctx, NAME, f"The language model ({llm.describe()}) drafts the summary.")
    price_data = ctx.deps.pricer.snapshot
    report = report_mod.build(state, price_data)
    narrative = None
    fallback = ""
    if llm.enabled and report["answerable"] and not report["no_usage"]:
        try:
            text = await llm.complete(NARRATIVE_SYSTEM, json.dumps(_brief(report)))
            check_grounded(text, report)
            narrative = text.strip()
            state.llm["narrative"] = "llm"
        except (LLMError, ValueError) as exc:
            state.llm.setdefault("fallbacks", []).append(f"narrative: {exc}")
            state.llm["narrative"] = "rules"
            fallback = f" (language model text not used: {exc})"
            report = report_mod.build(state, price_data)  # the fallback is in the assumptions
    else:
        state.llm.setdefault("narrative", "rules")
    report["llm"] = state.llm
    state.report = report
    state.content = report_mod.render(report, narrative)
    if report["strategies"]:
        return (
            f"plan of {fmt.plural(len(report['strategies']), 'strategy')}, "
            f"{fmt.per_month(report['monthly_savings_usd'])}{fallback}"
        )
    if not report["answerable"]:
        return f"no figures: the question names nothing to measure{fallback}"
    return f"answer on {fmt.money(report['spend_usd'])} of spend{fallback}"


def _brief(report: dict) -> dict:
    keys = ("question", "window", "filters", "spend_usd", "monthly_run_rate_usd",
            "monthly_savings_usd", "savings_pct", "unpriced_requests")  # fmt: skip
    brief = {k: report[k] for k in keys}
    brief["strategies"] = [
        {k: s[k] for k in ("title", "monthly_savings_usd", "savings_pct", "confidence")}
        for s in report["strategies"]
    ]
    if report.get("breakdown"):
        brief["breakdown"] = report["breakdown"]["groups"][:5]
    return brief


def _figures(value, out: list[float]) -> list[float]:
    if isinstance(value, dict):
        for v in value.values():
            _figures(v, out)
    elif isinstance(value, list):
        for v in value:
            _figures(v, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(float(value))
    return out


def check_grounded(text: str, report: dict) -> None:
    """Raise ValueError when the text cites a dollar amount the report does not contain
    (within a cent, or 0.5 % for rounded large figures)."""
    figures = _figures(report, [])
    for m in _DOLLARS.finditer(text):
        amount = float(m.group(1).replace(",", ""))
        if not any(abs(amount - f) <= max(0.01, abs(f) * 0.005) for f in figures):
            raise ValueError(f"the summary cites ${m.group(1)}, which is not in the data")
