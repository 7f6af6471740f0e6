"""Actions: the ordered plan. Quick wins first: monthly savings per unit of effort
(low 1, medium 2, high 4), then lower risk."""

from __future__ import annotations

from tokenomist.analyst import fmt
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
        # One action per scope group carries that group's figure; otherwise the first action
        # carries the strategy's total (the sum of its groups, as the report's table shows).
        per_group = len(s["actions"]) == len(s["scope"])
        total = (
            round(sum(c["monthly_savings_usd"] for c in s["scope"]), 4)
            if s["scope"]
            else (s["monthly_savings_usd"])
        )
        for i, title in enumerate(s["actions"]):
            if per_group:
                monthly = s["scope"][i]["monthly_savings_usd"]
            else:
                monthly = total if i == 0 else 0.0
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
        f"{fmt.plural(len(actions), 'action')}; first: {first['strategy_id']} "
        f"({fmt.per_month(first['monthly_savings_usd'])}, effort {first['effort']})"
    )
