"""Triage: what is asked (spend question or savings), for which period and filters, and so
which agents run. A plain spend question skips optimization and actions."""

from __future__ import annotations

from tokenomist.analyst import intent as intent_mod
from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.llm import LLMError
from tokenomist.analyst.query import Filters, iso
from tokenomist.analyst.tools import call_tool

NAME = "triage"
FULL_PLAN = ["data", "optimization", "actions", "reporting"]
SPEND_PLAN = ["data", "reporting"]


async def run(ctx: RunContext, state: RunState) -> str:
    # Events follow DESIGN §1: every thought comes before the agent's tool calls, and what
    # the agent concluded goes into its agent_completed summary.
    llm = ctx.deps.llm
    plan = f"Reading the question {state.question!r}: intent, period, filters."
    if llm.enabled:
        plan += f" The language model ({llm.describe()}) reads it; the rules are the fallback."
    await think(ctx, NAME, plan)
    await think(ctx, NAME, "Looking up what usage this org has, to anchor the period.")
    coverage = await call_tool(ctx, NAME, "data_coverage", {})
    state.coverage = coverage
    state.llm = {"provider": llm.name, "model": llm.model or None, "intent": "rules"}
    intent = intent_mod.parse(state.question, coverage)
    fallback = ""
    if llm.enabled and coverage["requests"]:
        try:
            text = await llm.complete(
                intent_mod.LLM_SYSTEM,
                intent_mod.llm_prompt(state.question, coverage),
                json_object=True,
            )
            intent, notes = intent_mod.from_llm(text, coverage)
            state.notes.extend(notes)
            state.llm["intent"] = "llm"
        except (LLMError, ValueError) as exc:
            state.llm.setdefault("fallbacks", []).append(f"intent: {exc}")
            fallback = f" (language model failed: {exc}; rules used)"

    state.intent = intent
    state.filters = Filters(intent.filters)
    state.window = intent_mod.resolve_window(
        intent.period,
        coverage,
        anchor_mode=ctx.deps.window_anchor,
        default_days=ctx.deps.default_window_days,
    )
    state.plan = SPEND_PLAN if intent.kind == "spend" else FULL_PLAN
    w = state.window
    anchor = "latest usage record" if w.anchor == "latest_usage" else "clock"
    what = "spend question" if intent.kind == "spend" else "savings request"
    scope = f", {state.filters.describe()}" if state.filters else ""
    by = f", by {intent.dimension}" if intent.dimension else ""
    empty = "; no usage recorded yet" if not coverage["requests"] else ""
    return (
        f"{what}{scope}{by} over {w.label} ({iso(w.start)} to {iso(w.end)}, relative to the "
        f"{anchor}){empty}; next: {', '.join(state.plan)}{fallback}"
    )
