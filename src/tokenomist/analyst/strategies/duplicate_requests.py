"""``duplicate_requests``: identical requests (same ``request_fingerprint``) repeated within
the cache window. Savings = the cost of the repeats, which a response cache would serve.

A repeat counts when the previous identical request succeeded with a complete answer
(status success, not stopped by ``length``) no longer than ``window_s`` before — the cache
behaves like a response cache whose entries live ``window_s`` and are refreshed on each hit.
Retries after an error or a truncated answer are not duplicates: no cache could serve them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

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

ID = "duplicate_requests"
TITLE = "Cache responses to repeated identical requests"


class Section(StrategySection):
    window_s: float = Field(gt=0)


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    rows = await _repeats(env, section)
    if not rows:
        return None
    cells = []
    for r in rows:
        calls = env.calls(cell_of(r))
        detail = {
            "repeats": int(r["repeats"]),
            "distinct_requests_repeated": int(r["fingerprints"]),
            "calls": calls,
            "repeat_share": round(r["repeats"] / calls, 4) if calls else None,
            "median_gap_s": round(float(r["median_gap_s"]), 1),
            "unpriced_repeats": int(r["unpriced_repeats"]),
        }
        cells.append(removal(r, "repeats_usd", "repeats", detail))
    return _finding(section, cells)


async def _repeats(env: StrategyEnv, section: Section) -> list[dict[str, Any]]:
    """Per cell, the calls that repeat a complete answer within the window, and their cost."""
    complete, params = env.where(
        "status = 'success' AND finish_reason != 'length' AND request_fingerprint != ''"
    )
    # Only fingerprints seen more than once can repeat: the window function then sorts those
    # partitions instead of every request of the window.
    cond = (
        f"{complete} AND request_fingerprint IN (SELECT request_fingerprint FROM {{usage}} "
        f"WHERE {complete} GROUP BY request_fingerprint HAVING count() > 1)"
    )
    params["dup_window_ms"] = int(section.window_s * 1000)
    return await env.usage.query(
        f"""
        SELECT provider, model, project, feature,
               count() AS repeats,
               sum(cost_usd) AS repeats_usd,
               countIf(cost_usd IS NULL) AS unpriced_repeats,
               uniqExact(request_fingerprint) AS fingerprints,
               quantileTDigest(0.5)(gap_ms) / 1000 AS median_gap_s
        FROM (
            SELECT provider, model, project, feature, request_fingerprint, cost_usd,
                   dateDiff('millisecond', prev_ts, timestamp) AS gap_ms
            FROM (
                SELECT provider, model, project, feature, request_fingerprint, cost_usd,
                       timestamp,
                       lagInFrame(toNullable(timestamp)) OVER (
                           PARTITION BY provider, model, request_fingerprint
                           ORDER BY timestamp ASC
                           ROWS BETWEEN 1 PRECEDING AND CURRENT ROW
                       ) AS prev_ts
                FROM {{usage}}
                WHERE {cond}
            )
            WHERE prev_ts IS NOT NULL
              AND dateDiff('millisecond', prev_ts, timestamp) <= {{dup_window_ms:UInt64}}
        )
        GROUP BY provider, model, project, feature
        HAVING repeats_usd > 0
        ORDER BY repeats_usd DESC
        """,
        params,
    )


def _finding(section: Section, cells: list[CellSaving]) -> Finding:
    hours = section.window_s / 3600
    return Finding(
        id=ID,
        title=TITLE,
        confidence="high",
        cells=cells,
        assumptions=[
            f"A response cache keyed by the request fingerprint serves every identical request "
            f"made within {hours:g} h of the previous complete answer.",
            "Identical requests want identical answers (deterministic use, e.g. temperature 0).",
        ],
        evidence={
            "repeats": sum(c.requests for c in cells),
            "cache_window_s": section.window_s,
        },
        actions=[
            f"Put a response cache in front of {describe_cell(c.cell)}: "
            f"{c.detail['repeats']:,} repeats of {c.detail['distinct_requests_repeated']:,} "
            f"requests (median {c.detail['median_gap_s']:g} s apart) cost "
            f"{usd(c.savings_usd)} in the window."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
