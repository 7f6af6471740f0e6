"""Combining strategies without double counting.

Every strategy reports its standalone saving per cell (provider, model, project, feature).
The cells' spend is then consumed in ``strategies.REGISTRY`` order, each strategy applied to
what the previous ones left in that cell, as its registered kind says:

1. Removals — ``error_waste``, ``duplicate_requests``, ``truncation``. Their calls are
   disjoint by construction (failed calls; repeats of a complete successful answer;
   attempts stopped by ``length``), so each removes its own dollars from the cell:
   ``incremental = min(standalone, remaining)``.
2. Re-pricing — ``model_right_sizing``, ``provider_arbitrage``. They change what every
   remaining call costs, so they scale with what is left:
   ``incremental = standalone / cell_spend * remaining``. They are alternatives: once a
   cell's traffic moves to a sibling model, buying the old model elsewhere no longer
   applies, so arbitrage skips cells that right-sizing took.
3. Discounts — ``batch_tier``, ``prompt_caching``. Same proportional rule, on what is left
   after the cheaper model/provider.

The plan's total is the sum of the incremental savings, so it never exceeds the spend.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tokenomist.analyst.query import Window
from tokenomist.analyst.strategies import REGISTRY
from tokenomist.analyst.strategies.base import CellKey, CellStats, Finding

_RANK = {r.strategy.ID: i for i, r in enumerate(REGISTRY)}
_REGISTERED = {r.strategy.ID: r for r in REGISTRY}


def combine(
    findings: list[Finding],
    cells: dict[CellKey, CellStats],
    window: Window,
    spend_usd: float,
    min_monthly_savings_usd: float = 0.0,
) -> list[dict[str, Any]]:
    """Strategies (report shape) with ``savings_usd`` net of the ones before them, ranked by
    monthly savings. Findings below the noise floor (standalone, per month) are dropped."""
    kept = sorted(
        (f for f in findings if window.monthly(f.savings_usd) >= min_monthly_savings_usd),
        key=lambda f: _RANK[f.id],
    )
    remaining: dict[CellKey, float] = defaultdict(float)
    for key, stats in cells.items():
        remaining[key] = stats.spend_usd
    taken: dict[str, set[CellKey]] = defaultdict(set)
    out: list[dict[str, Any]] = []
    for finding in kept:
        registered = _REGISTERED[finding.id]
        scope = []
        for c in finding.cells:
            base = cells[c.cell].spend_usd if c.cell in cells else c.affected_spend_usd
            other = registered.instead_of
            if other and c.cell in taken[other]:
                incremental = 0.0
            elif registered.kind == "removal":
                incremental = min(c.savings_usd, remaining[c.cell])
            else:
                share = min(c.savings_usd / base, 1.0) if base > 0 else 0.0
                incremental = share * remaining[c.cell]
            remaining[c.cell] -= incremental
            if incremental > 0:
                taken[finding.id].add(c.cell)
            scope.append(
                {
                    **c.scope(),
                    "requests": c.requests,
                    "affected_spend_usd": _money(c.affected_spend_usd),
                    "standalone_savings_usd": _money(c.savings_usd),
                    "savings_usd": _money(incremental),
                    "monthly_savings_usd": _money(window.monthly(incremental)),
                    **c.detail,
                }
            )
        out.append(_strategy(finding, scope, window, spend_usd))
    out = [s for s in out if s["savings_usd"] > 0]
    out.sort(key=lambda s: s["monthly_savings_usd"], reverse=True)
    return out


def _strategy(
    finding: Finding, scope: list[dict[str, Any]], window: Window, spend_usd: float
) -> dict[str, Any]:
    """One strategy in the report's shape, its savings the sum of its cells' incremental ones."""
    savings = sum(s["savings_usd"] for s in scope)
    return {
        "id": finding.id,
        "title": finding.title,
        "scope": scope,
        "affected_spend_usd": _money(finding.affected_spend_usd),
        "standalone_savings_usd": _money(finding.savings_usd),
        "savings_usd": _money(savings),
        "monthly_savings_usd": _money(window.monthly(savings)),
        "savings_pct": round(savings / spend_usd * 100, 2) if spend_usd > 0 else 0.0,
        "confidence": finding.confidence,
        "assumptions": finding.assumptions,
        "evidence": finding.evidence,
        "risk": finding.risk,
        "effort": finding.effort,
        "actions": finding.actions,
    }


def _money(value: float) -> float:
    return round(float(value), 4)
