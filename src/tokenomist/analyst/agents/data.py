"""Data: the figures of the question, all from queries over the org's usage — totals and a
breakdown; for a comparison both sides; for a what-if the same tokens re-priced; for "why?"
the cost drivers now and in the period before."""

from __future__ import annotations

from typing import Any

from tokenomist.analyst import fmt, periods
from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.query import Filters, Window
from tokenomist.analyst.tools import Scope, call_tool

NAME = "data"


def _scope(window: Window | None, filters: Filters) -> dict[str, Any]:
    return Scope.of(window, filters).model_dump(mode="json", by_alias=True, exclude_none=True)


async def run(ctx: RunContext, state: RunState) -> str:
    assert state.window is not None and state.intent is not None
    intent = state.intent
    if intent.kind == "compare":
        return await _compare(ctx, state)
    scope = _scope(state.window, state.filters)
    await think(ctx, NAME, f"Totalling requests, tokens and cost for {state.window.label}.")
    if intent.kind == "what_if":
        await _what_if(ctx, state, scope)
    elif intent.kind == "unpriced":
        await think(ctx, NAME, "Then the models whose calls have no price.")
        state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
        state.unpriced = await call_tool(ctx, NAME, "unpriced_models", scope)
    elif intent.kind == "why":
        await _why(ctx, state, scope)
    elif intent.kind == "anomalies":
        await think(ctx, NAME, "Then each day against the same weekday of recent weeks.")
        state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
        args = {k: v for k, v in scope.items() if k != "exclude"}
        if state.filters.exclude:
            state.notes.append(
                "Anomalies are looked for in the usage the filters select; the exclusions "
                f"({', '.join(state.filters.exclude)}) are not applied to them."
            )
        state.anomalies = await call_tool(ctx, NAME, "anomalies", args)
    elif intent.kind == "budget":
        await think(ctx, NAME, "Then every budget's spend to date and its forecast.")
        state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
        state.budgets = await call_tool(ctx, NAME, "budgets_status", {})
    else:
        await _spend(ctx, state, scope)
    t = state.totals
    text = f"{fmt.money(t['cost_usd'], unpriced='no priced spend')} over "
    text += fmt.plural(t["requests"], "request")
    if t["unpriced_requests"]:
        text += f"; {t['unpriced_requests']:,} unpriced"
    return text


async def _spend(ctx: RunContext, state: RunState, scope: dict[str, Any]) -> None:
    assert state.intent is not None
    dimension = state.intent.dimension
    if state.intent.kind == "spend" and dimension is None:
        # Context for a single figure: where it went.
        dimension = "feature" if "model" in state.filters.values else "model"
    optimize = state.intent.kind == "optimize"
    if optimize and dimension is None:
        dimension = "model"
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
        args: dict[str, Any] = {**scope, "dimensions": [dimension]}
        if state.intent.limit:
            args["limit"] = state.intent.limit
        groups = await call_tool(ctx, NAME, "breakdown", args)
        state.breakdown = {"dimension": dimension, "groups": groups, "limit": state.intent.limit}
    if optimize:
        state.drivers = await call_tool(ctx, NAME, "top_cost_drivers", {**scope, "limit": 5})
        state.profiles = await call_tool(
            ctx, NAME, "percentile_profile", {**scope, "dimension": "model"}
        )


async def _what_if(ctx: RunContext, state: RunState, scope: dict[str, Any]) -> None:
    assert state.intent is not None and state.intent.target is not None
    target = state.intent.target
    await think(
        ctx, NAME, f"Then the same tokens priced on {target['provider']}/{target['model']}."
    )
    state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
    state.what_if = await call_tool(
        ctx,
        NAME,
        "reprice",
        {**scope, "target_provider": target["provider"], "target_model": target["model"]},
    )
    groups = await call_tool(ctx, NAME, "breakdown", {**scope, "dimensions": ["model"]})
    state.breakdown = {"dimension": "model", "groups": groups, "limit": None}


async def _why(ctx: RunContext, state: RunState, scope: dict[str, Any]) -> None:
    assert state.window is not None
    before = periods.previous(state.window)
    await think(ctx, NAME, f"Then what drove it, beside {before.label}.")
    state.totals = await call_tool(ctx, NAME, "spend_summary", scope)
    state.drivers = await call_tool(ctx, NAME, "top_cost_drivers", {**scope, "limit": 10})
    prev = _scope(before, state.filters)
    state.totals_before = await call_tool(ctx, NAME, "spend_summary", prev)
    state.drivers_before = await call_tool(ctx, NAME, "top_cost_drivers", {**prev, "limit": 100})
    state.windows = [state.window, before]


async def _compare(ctx: RunContext, state: RunState) -> str:
    assert state.intent is not None and state.intent.compare is not None
    spec = state.intent.compare
    sides: list[tuple[str, Window, Filters]] = []
    if spec.get("periods"):
        for w in state.windows:
            sides.append((w.label, w, state.filters))
    else:
        assert state.window is not None
        for label, values in zip(spec["labels"], spec["sides"], strict=True):
            extra = values[0] if len(values) == 1 else tuple(values)
            values = {**state.filters.values, spec["column"]: extra}
            sides.append((label, state.window, Filters(values, state.filters.exclude)))
    await think(ctx, NAME, f"Totalling both sides: {sides[0][0]} and {sides[1][0]}.")
    for label, window, filters in sides:
        totals = await call_tool(ctx, NAME, "spend_summary", _scope(window, filters))
        state.sides.append(
            {"label": label, "window": window.to_dict(), "filters": filters.to_json(), **totals}
        )
    priced = [s["cost_usd"] for s in state.sides if s["cost_usd"] is not None]
    state.totals = {
        "requests": sum(s["requests"] for s in state.sides),
        "cost_usd": sum(priced) if priced else None,
        "unpriced_requests": sum(s["unpriced_requests"] for s in state.sides),
    }
    a, b = state.sides
    return f"{a['label']}: {fmt.money(a['cost_usd'])}; {b['label']}: {fmt.money(b['cost_usd'])}"
