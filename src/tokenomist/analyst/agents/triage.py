"""Triage: what is asked, for which window and filters, and so which agents run. A plain
spend question skips optimization and actions; a question the analyst cannot answer, or a
name that matches nothing in the org's data, goes straight to reporting (which says so).

Windows: relative periods end at the anchor (the org's latest record, or the clock); a
question naming no period gets the last 30 days of the *filtered* data, so "the conv
project" answers about conv's own days, stated as such, even when other data is newer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tokenomist.analyst import fmt, periods, scope_tools
from tokenomist.analyst import intent as intent_mod
from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.llm import LLMError
from tokenomist.analyst.query import Filters, Window, iso
from tokenomist.analyst.tools import Scope, call_tool

NAME = "triage"
FULL_PLAN = ["data", "optimization", "actions", "reporting"]
SPEND_PLAN = ["data", "reporting"]
ANSWER_ONLY = ["reporting"]


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
    vocab = intent_mod.Vocabulary.of(coverage, ctx.deps.pricer)
    previous = None
    if state.previous_intent:
        try:
            previous = intent_mod.Intent.from_dict(state.previous_intent)
        except (KeyError, TypeError, ValueError):
            previous = None  # an answer stored before intents were kept: no follow-up
    intent = intent_mod.parse(state.question, vocab, previous)
    fallback = await _llm_intent(ctx, state, vocab, coverage) if llm.enabled else ""
    if isinstance(fallback, intent_mod.Intent):
        intent, fallback = intent_mod.merge(intent, fallback, state.question), ""
    state.intent = intent
    state.filters = Filters(intent.filters, intent.exclude)
    if intent.kind == "help" or intent.unmatched:
        state.plan = ANSWER_ONLY
        what = "not a question about usage" if intent.kind == "help" else "a name matches nothing"
        return f"{what}; next: reporting{fallback}"
    if not coverage["requests"]:
        # Nothing recorded yet: the agents still run (and find nothing), as on any org.
        if intent.kind == "compare":
            state.intent = replace(intent, kind="spend", compare=None)
        state.window = _resolve(ctx, intent.period, coverage, coverage)
        state.plan = FULL_PLAN if intent.kind == "optimize" else SPEND_PLAN
        return f"no usage recorded yet; next: {', '.join(state.plan)}{fallback}"
    await _scope_and_window(ctx, state)
    if not state.scope.get("requests"):
        state.plan = ANSWER_ONLY
        return f"no usage matches {state.filters.describe()}; next: reporting{fallback}"
    state.plan = FULL_PLAN if intent.kind == "optimize" else SPEND_PLAN
    return _summary(state) + fallback


async def _llm_intent(ctx, state, vocab, coverage) -> intent_mod.Intent | str:
    if not coverage["requests"]:
        return ""
    try:
        text = await ctx.deps.llm.complete(
            intent_mod.LLM_SYSTEM, intent_mod.llm_prompt(state.question, vocab), json_object=True
        )
        parsed, notes = intent_mod.from_llm(text, vocab)
    except (LLMError, ValueError) as exc:
        state.llm.setdefault("fallbacks", []).append(f"intent: {exc}")
        return f" (language model failed: {exc}; rules used)"
    state.notes.extend(notes)
    state.llm["intent"] = "llm"
    return parsed


async def _scope_and_window(ctx: RunContext, state: RunState) -> None:
    assert state.intent is not None
    intent, coverage = state.intent, state.coverage
    if state.filters:
        state.scope = await call_tool(ctx, NAME, "scope_coverage", _args(None, state.filters))
    else:
        state.scope = {k: coverage[k] for k in ("requests", "earliest", "latest")}
    if not state.scope["requests"]:
        return
    window = _resolve(ctx, intent.period, coverage, state.scope)
    if intent.compare and intent.compare.get("periods"):
        first, second = (periods.Period.from_dict(p) for p in intent.compare["periods"])
        window = _resolve(ctx, first, coverage, state.scope)
        other = periods.previous(window) if second.kind == "before" else None
        other = other or _resolve(ctx, second, coverage, state.scope)
        pair = [(await _with_activity(ctx, state, w))[0] for w in (window, other)]
    state.window, state.gaps = await _with_activity(ctx, state, window)
    if intent.compare and intent.compare.get("periods"):
        state.windows = pair
    state.left_out = await call_tool(
        ctx, NAME, "scope_coverage", _args(state.window, state.filters)
    )


async def _with_activity(
    ctx: RunContext, state: RunState, window: Window
) -> tuple[Window, list[dict[str, Any]]]:
    """The window with its days of traffic (so monthly figures come from them) and its gaps."""
    days = await call_tool(ctx, NAME, "traffic_days", _args(window, state.filters))
    active, gaps = scope_tools.activity(window, days)
    if not state.windows:  # the main window: how long its traffic lasted, for confidence
        state.busy_days = scope_tools.busy_days(days)
    return replace(window, active_days=active if days else None), gaps


def _args(window: Window | None, filters: Filters) -> dict[str, Any]:
    return Scope.of(window, filters).model_dump(mode="json", by_alias=True, exclude_none=True)


def _resolve(ctx: RunContext, period, coverage: dict, scope: dict) -> Window:
    days = ctx.deps.default_window_days
    if not coverage.get("requests"):
        now = datetime.now(UTC)
        return periods.resolve(period, now, now - timedelta(days=days), "now", days)
    latest, earliest = coverage["latest"], coverage["earliest"]
    if period.kind == "default":
        return _default_window(ctx, period, latest, scope)
    if ctx.deps.window_anchor == "now":
        return periods.resolve(period, datetime.now(UTC), earliest, "now", days)
    return periods.resolve(period, latest, earliest, "latest_usage", days)


def _default_window(ctx: RunContext, period, latest: datetime, scope: dict) -> Window:
    """The last N days up to the anchor; when the scope has no usage in them (an old import,
    a project that stopped), the last N days of the scope's own data, said so."""
    days = ctx.deps.default_window_days
    now = datetime.now(UTC)
    anchor_now = ctx.deps.window_anchor == "now"
    end, anchor = (now, "now") if anchor_now else (latest, "latest_usage")
    if scope["latest"] >= end - timedelta(days=days):
        return periods.resolve(period, end, scope["earliest"], anchor, days)
    window = periods.resolve(period, scope["latest"], scope["earliest"], "latest_usage", days)
    to = f"to {scope['latest']:%Y-%m-%d}"
    if window.start <= scope["earliest"]:
        span = fmt.duration((window.end - window.start).total_seconds())
        return replace(window, label=f"all of its data ({span}, {to})")
    return replace(window, label=f"last {days} days of its data ({to})")


def _summary(state: RunState) -> str:
    assert state.intent is not None and state.window is not None
    intent, w = state.intent, state.window
    anchor = {"latest_usage": "latest usage record", "now": "clock"}.get(w.anchor, "calendar")
    what = {
        "spend": "spend question",
        "optimize": "savings request",
        "compare": "comparison",
        "what_if": "what-if",
        "unpriced": "unpriced-models question",
        "why": "why question",
        "anomalies": "question about a jump in spend",
        "budget": "budget question",
    }[intent.kind]
    scope = f", {state.filters.describe()}" if state.filters else ""
    by = f", by {intent.dimension}" if intent.dimension else ""
    return (
        f"{what}{scope}{by} over {w.label} ({iso(w.start)} to {iso(w.end)}, relative to the "
        f"{anchor}); next: {', '.join(state.plan)}"
    )
