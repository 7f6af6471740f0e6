"""``truncation``: answers cut off by ``max_tokens`` (``finish_reason=length``) and then
retried with the same request. Savings = the cost of the truncated attempts; the action
recommends a ``max_tokens`` that covers the feature's complete answers (an output-token
percentile from the catalogue). An attempt that also failed (status error) is ``error_waste``'s:
the removals must stay disjoint or the plan counts its dollars twice."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from tokenomist.analyst.query import list_param, split_list
from tokenomist.analyst.strategies.base import (
    CellSaving,
    Finding,
    StrategyEnv,
    StrategySection,
    cell_of,
    describe_cell,
    removal,
    usd,
)

ID = "truncation"
TITLE = "Stop truncated answers that get retried"
MAX_TOKENS_STEP = 64  # recommendations are rounded up to a multiple of this


class Section(StrategySection):
    retry_window_s: float = Field(gt=0)
    max_tokens_percentile: float = Field(gt=0, le=1)


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    rows = await _retried_truncations(env, section)
    if not rows:
        return None
    outputs = await _complete_output_percentiles(env, section, {r["feature"] for r in rows})
    cells = []
    for r in rows:
        key = cell_of(r)
        p_out = outputs.get(key)
        recommended = int(math.ceil(p_out / MAX_TOKENS_STEP) * MAX_TOKENS_STEP) if p_out else None
        detail = {
            "truncated_retried_calls": int(r["attempts"]),
            "calls": env.calls(key),
            "current_max_tokens": int(r["median_max_tokens"]) or None,
            "complete_output_percentile": section.max_tokens_percentile,
            "complete_output_tokens_at_percentile": round(p_out) if p_out else None,
            "recommended_max_tokens": recommended,
            "unpriced_attempts": int(r["unpriced_attempts"]),
        }
        cells.append(removal(r, "truncated_usd", "attempts", detail))
    pct = f"p{section.max_tokens_percentile * 100:g}"
    return Finding(
        id=ID,
        title=TITLE,
        confidence="high",
        cells=cells,
        assumptions=[
            f"A call stopped by max_tokens and repeated within {section.retry_window_s:g} s "
            f"with the same request is a retry; with a large enough max_tokens the first "
            f"attempt would have completed.",
            f"The recommended max_tokens covers the {pct} of complete answers of the feature.",
        ],
        evidence={"truncated_retried_calls": sum(c.requests for c in cells)},
        actions=[_action(c, pct) for c in cells[:3]],
        risk=section.risk,
        effort=section.effort,
    )


async def _retried_truncations(env: StrategyEnv, section: Section) -> list[dict[str, Any]]:
    """Per cell, the successful attempts stopped by ``length`` and retried within the window."""
    # Only requests that were ever stopped by length can have a truncated attempt: the window
    # function then sorts those few partitions instead of the whole window.
    truncated, params = env.where("finish_reason = 'length' AND request_fingerprint != ''")
    cond, _ = env.where(
        f"request_fingerprint IN (SELECT request_fingerprint FROM {{usage}} WHERE {truncated})"
    )
    params["retry_ms"] = int(section.retry_window_s * 1000)
    return await env.usage.query(
        f"""
        SELECT provider, model, project, feature,
               count() AS attempts,
               sum(cost_usd) AS truncated_usd,
               countIf(cost_usd IS NULL) AS unpriced_attempts,
               sum(output_tokens) AS truncated_output_tokens,
               quantileTDigest(0.5)(ifNull(max_tokens, 0)) AS median_max_tokens
        FROM (
            SELECT provider, model, project, feature, finish_reason, status, max_tokens,
                   output_tokens, cost_usd, timestamp,
                   leadInFrame(toNullable(timestamp)) OVER (
                       PARTITION BY provider, model, request_fingerprint
                       ORDER BY timestamp ASC
                       ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING
                   ) AS next_ts
            FROM {{usage}}
            WHERE {cond}
        )
        WHERE finish_reason = 'length' AND status = 'success' AND next_ts IS NOT NULL
          AND dateDiff('millisecond', timestamp, next_ts) <= {{retry_ms:UInt64}}
        GROUP BY provider, model, project, feature
        HAVING truncated_usd > 0
        ORDER BY truncated_usd DESC
        """,
        params,
    )


def _action(c: CellSaving, pct: str) -> str:
    d = c.detail
    text = (
        f"Raise max_tokens for {describe_cell(c.cell)}: {d['truncated_retried_calls']:,} "
        f"answers were cut off"
    )
    if d["current_max_tokens"]:
        text += f" at max_tokens={d['current_max_tokens']}"
    text += f" and retried ({usd(c.savings_usd)} paid for the cut-off attempts)."
    if d["recommended_max_tokens"]:
        text += (
            f" Set max_tokens to {d['recommended_max_tokens']} "
            f"({pct} of complete answers: {d['complete_output_tokens_at_percentile']} tokens)."
        )
    return text


async def _complete_output_percentiles(
    env: StrategyEnv, section: Section, features: set[str]
) -> dict:
    cond, params = env.where(
        f"status = 'success' AND finish_reason != 'length' "
        f"AND has({split_list('tr_features')}, feature)"
    )
    params["tr_features"] = list_param(sorted(features))
    params["tr_q"] = section.max_tokens_percentile
    rows = await env.usage.query(
        f"""
        SELECT provider, model, project, feature,
               quantileExactHigh({{tr_q:Float64}})(output_tokens) AS p_out
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature
        """,
        params,
    )
    return {cell_of(r): float(r["p_out"]) for r in rows}
