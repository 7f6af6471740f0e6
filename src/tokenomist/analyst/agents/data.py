"""Data: the figures of the question, all from queries over the org's usage."""

from __future__ import annotations

from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.tools import Scope, call_tool

NAME = "data"


async def run(ctx: RunContext, state: RunState) -> str:
    assert state.window is not None and state.intent is not None
    scope = Scope.of(state.window, state.filters).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    dimension = state.intent.dimension
    if state.intent.kind == "spend" and dimension is None:
        # Context for a single figure: where it went.
        dimension = "feature" if "model" in state.filters.values else "model"
    optimize = state.intent.kind == "optimize"
    if optimize and dimension is None:
        dimension = "model"
    await think(ctx, NAME, f"Totalling requests, tokens and cost for {state.window.label}.")
    if dimension == "day":
        await think(ctx, NAME, "Then the cost per day across the window.")
    else:
        await think(ctx, NAME, f"Then the cost grouped by {dimension}.")
    if optimize:
        await think(ctx, NAME, "And the biggest cost drivers and the usage profile by model.")

    state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
    if dimension == "day":
        state.series = await call_tool(ctx, NAME, "time_series", {**scope, "bucket": "day"})
    else:
        groups = await call_tool(ctx, NAME, "breakdown", {**scope, "dimensions": [dimension]})
        state.breakdown = {"dimension": dimension, "groups": groups}
    if optimize:
        state.drivers = await call_tool(ctx, NAME, "top_cost_drivers", {**scope, "limit": 5})
        state.profiles = await call_tool(
            ctx, NAME, "percentile_profile", {**scope, "dimension": "model"}
        )
    t = state.totals
    spend = "no priced spend" if t["cost_usd"] is None else f"${t['cost_usd']:,.2f}"
    text = f"{spend} over {t['requests']:,} requests"
    if t["unpriced_requests"]:
        text += f"; {t['unpriced_requests']:,} unpriced"
    return text
