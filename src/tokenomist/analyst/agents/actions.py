"""Actions: the ordered plan. Quick wins first: monthly savings per unit of effort
(low 1, medium 2, high 4), then lower risk."""

from __future__ import annotations

from tokenomist.analyst.agents.base import RunState, think
from tokenomist.analyst.context import RunContext

NAME = "actions"
EFFORT_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 4.0}
RISK_RANK = {"low": 0, "medium": 1, "high": 2}


async def run(ctx: RunContext, state: RunState) -> str:
    strategies = state.strategies or []
    await think(
        ctx, NAME, "Ordering the changes by monthly savings per unit of effort, then by risk."
    )
    actions = []
    for s in strategies:
        for i, title in enumerate(s["actions"]):
            scope = s["scope"][i] if i < len(s["scope"]) else {}
            monthly = scope.get("monthly_savings_usd", s["monthly_savings_usd"])
            if monthly <= 0:
                continue
            actions.append(
                {
                    "title": title,
                    "strategy_id": s["id"],
                    "effort": s["effort"],
                    "risk": s["risk"],
                    "monthly_savings_usd": monthly,
                }
            )
    actions.sort(
        key=lambda a: (
            -a["monthly_savings_usd"] / EFFORT_WEIGHT[a["effort"]],
            RISK_RANK[a["risk"]],
        )
    )
    state.actions = actions
    if not actions:
        return "nothing to do"
    first = actions[0]
    return (
        f"{len(actions)} actions; first: {first['strategy_id']} "
        f"(${first['monthly_savings_usd']:,.2f}/month, effort {first['effort']})"
    )
