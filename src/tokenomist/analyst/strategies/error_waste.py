"""``error_waste``: failed calls that were billed tokens. Savings = their cost."""

from __future__ import annotations

from typing import Any

from tokenomist.analyst.strategies.base import (
    CellSaving,
    Finding,
    StrategyEnv,
    StrategySection,
    describe_cell,
    removal,
    usd,
)

ID = "error_waste"
TITLE = "Stop paying for failed calls"
SYSTEMATIC_ERROR_RATE = 0.05  # above this share a cell's failures are a pattern, not noise
Section = StrategySection  # effort and risk only


async def find(env: StrategyEnv) -> Finding | None:
    rows = await _billed_failures(env)
    if not rows:
        return None
    cells = []
    for r in rows:
        detail = {
            "calls": int(r["calls"]),
            "failed_calls": int(r["errors"]),
            "billed_failed_calls": int(r["billed_errors"]),
            "error_rate": round(r["errors"] / r["calls"], 4),
            "wasted_input_tokens": int(r["wasted_input_tokens"]),
            "wasted_output_tokens": int(r["wasted_output_tokens"]),
            "unpriced_failed_calls": int(r["unpriced_errors"]),
        }
        cells.append(removal(r, "wasted_usd", "billed_errors", detail))
    return _finding(env.catalogue.section(ID, Section), cells)


async def _billed_failures(env: StrategyEnv) -> list[dict[str, Any]]:
    cond, params = env.where()
    return await env.usage.query(
        f"""
        SELECT provider, model, project, feature,
               count() AS calls,
               countIf(status = 'error') AS errors,
               countIf(status = 'error' AND cost_usd > 0) AS billed_errors,
               sumIf(cost_usd, status = 'error' AND cost_usd > 0) AS wasted_usd,
               sumIf(input_tokens, status = 'error' AND cost_usd > 0) AS wasted_input_tokens,
               sumIf(output_tokens, status = 'error' AND cost_usd > 0) AS wasted_output_tokens,
               countIf(status = 'error' AND cost_usd IS NULL) AS unpriced_errors
        FROM {{usage}}
        WHERE {cond}
        GROUP BY provider, model, project, feature
        HAVING billed_errors > 0
        ORDER BY wasted_usd DESC
        """,
        params,
    )


def _finding(section: StrategySection, cells: list[CellSaving]) -> Finding:
    systematic = [c for c in cells if c.detail["error_rate"] >= SYSTEMATIC_ERROR_RATE]
    return Finding(
        id=ID,
        title=TITLE,
        confidence="high" if systematic else "medium",
        cells=cells,
        assumptions=[
            "Every failed call that was billed tokens is avoidable; failures caused by provider "
            "outages are not, so this is an upper bound for those.",
        ],
        evidence={
            "billed_failed_calls": sum(c.requests for c in cells),
            "wasted_usd": round(sum(c.savings_usd for c in cells), 6),
            "systematic_cells": len(systematic),
            "error_rate_threshold": SYSTEMATIC_ERROR_RATE,
        },
        actions=[
            f"Fix the failing calls of {describe_cell(c.cell)}: "
            f"{c.detail['error_rate']:.1%} of {c.detail['calls']:,} calls fail after being "
            f"billed ({usd(c.savings_usd)} in the window). Validate inputs before calling and "
            f"fail fast on errors that a retry cannot fix."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
