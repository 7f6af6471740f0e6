"""Optimization: every strategy of the catalogue against the window's usage, then combined
without double counting (``strategies.combine``)."""

from __future__ import annotations

from tokenomist.analyst import fmt
from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.strategies import ORDER
from tokenomist.analyst.strategies.combine import combine
from tokenomist.analyst.tools import Scope, call_tool, strategy_env

NAME = "optimization"


async def run(ctx: RunContext, state: RunState) -> str:
    assert state.window is not None
    scope = Scope.of(state.window, state.filters).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    await think(
        ctx,
        NAME,
        f"Checking {len(ORDER)} strategies against {state.totals['requests']:,} requests; "
        "every saving is the same traffic re-priced under the change.",
    )
    await think(ctx, NAME, "Then combining them without counting a dollar twice.")
    findings = []
    for module in ORDER:
        finding = await call_tool(ctx, NAME, f"find_{module.ID}", scope)
        state.strategies_checked.append(module.ID)
        if finding is not None:
            findings.append(finding)
    env = await strategy_env(ctx, state.window, state.filters)
    floor = ctx.deps.catalogue.report.min_monthly_savings_usd
    spend = state.totals["cost_usd"] or 0.0  # None: nothing priced, so nothing to save
    state.strategies = combine(findings, env.cells, state.window, spend, floor)
    monthly = sum(s["monthly_savings_usd"] for s in state.strategies)
    if not state.strategies:
        return f"none of the {len(ORDER)} strategies found anything worth changing"
    return (
        f"{fmt.plural(len(state.strategies), 'strategy')} save {fmt.per_month(monthly)} combined "
        "(each applied to what the previous ones left)"
    )
