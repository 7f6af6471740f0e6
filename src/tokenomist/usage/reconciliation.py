"""Reconciliation: the cost a producer reported (``reported_cost_usd``: canonical ``cost_usd``,
LiteLLM ``spend``) beside the one we computed (``cost_usd``), with a likely cause per group.

Only rows carrying a reported cost take part, and our cost is summed over those same rows, so
the two sums are comparable. ``difference_usd`` is reported - computed (positive: the producer
charged more than we price); ``difference_pct`` is that difference as a percentage of computed.

The likely cause is judged on a group's sums by the first rule of ``RULES`` that matches: an
explainable heuristic, not a proof. Group by ``model`` for the sharpest causes: a day mixing
models that agree with one that does not reads as "prices differ".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tokenomist.kit.resources import Resources
from tokenomist.usage import repository

# How close a ratio reported / computed must be to a rule's ratio to match it (±5 %).
RATIO_TOLERANCE = 0.05
# Below this share of the computed cost the two are said to agree.
AGREE_PCT = 1.0


@dataclass(frozen=True)
class Facts:
    """What the rules look at: a group's comparable sums (rows with a reported cost only)."""

    reported_requests: int
    reported_unpriced: int  # of those, rows we could not price
    computed_usd: float
    reported_usd: float
    cached_input_tokens: int
    batch_requests: int

    @property
    def ratio(self) -> float | None:
        return self.reported_usd / self.computed_usd if self.computed_usd > 0 else None

    @property
    def difference_pct(self) -> float | None:
        ratio = self.ratio
        return None if ratio is None else (ratio - 1.0) * 100.0


@dataclass(frozen=True)
class Rule:
    """One line of the cause table. Every condition given must hold; ``None`` is "any"."""

    code: str
    cause: str
    nothing_reported: bool | None = None  # no row of the group carries a reported cost
    unpriced: bool | None = None  # a reported row has no computed cost
    reported_zero: bool | None = None  # the producer's sum is $0 while ours is not
    agree: bool | None = None  # |difference| < AGREE_PCT % of computed (or both $0)
    ratio: float | None = None  # reported / computed ≈ this (± RATIO_TOLERANCE)
    cached: bool | None = None  # the compared rows carry cached input tokens
    batch: bool | None = None  # some compared rows ran on the batch tier

    def matches(self, f: Facts) -> bool:
        ratio = f.ratio
        diff = f.difference_pct
        checks = {
            "nothing_reported": f.reported_requests == 0,
            "unpriced": f.reported_unpriced > 0,
            "reported_zero": f.reported_usd == 0 and f.computed_usd > 0,
            "agree": (diff is not None and abs(diff) < AGREE_PCT)
            or (f.reported_usd == 0 and f.computed_usd == 0),
            "cached": f.cached_input_tokens > 0,
            "batch": f.batch_requests > 0,
        }
        for name, actual in checks.items():
            wanted = getattr(self, name)
            if wanted is not None and wanted != actual:
                return False
        if self.ratio is not None:
            return ratio is not None and abs(ratio / self.ratio - 1.0) <= RATIO_TOLERANCE
        return True


# First match wins; the last rule matches everything. README "Usage reads" lists the same table.
RULES: tuple[Rule, ...] = (
    Rule("not_reported", "no reported cost to compare", nothing_reported=True),
    Rule("unpriced", "model not in the price data", unpriced=True),
    Rule("reported_zero", "producer reports no cost", reported_zero=True),
    Rule("agree", "agree", agree=True),
    Rule("batch", "batch discount not applied", ratio=0.5, batch=True),
    Rule(
        "cached_full_rate",
        "cached tokens billed at the full input rate by the producer (or by us)",
        ratio=2.0,
        cached=True,
    ),
    Rule("prices_differ", "prices differ (check the model version / price date)"),
)


def likely_cause(facts: Facts) -> Rule:
    return next(rule for rule in RULES if rule.matches(facts))


def _item(row: dict[str, Any]) -> dict[str, Any]:
    facts = Facts(
        reported_requests=int(row["reported_requests"] or 0),
        reported_unpriced=int(row["reported_unpriced"] or 0),
        computed_usd=float(row["computed_usd"] or 0.0),
        reported_usd=float(row["reported_usd"] or 0.0),
        cached_input_tokens=int(row["cached_input_tokens"] or 0),
        batch_requests=int(row["batch_requests"] or 0),
    )
    reported = facts.reported_requests > 0
    # Unknown is never shown as $0: no reported row → no reported sum; no priced one → no ours.
    computed = facts.computed_usd if facts.reported_requests > facts.reported_unpriced else None
    reported_usd = facts.reported_usd if reported else None
    difference = None if computed is None or reported_usd is None else reported_usd - computed
    pct = facts.difference_pct if difference is not None else None
    out: dict[str, Any] = {"key": str(row["key"])} if "key" in row else {}
    return {
        **out,
        "requests": int(row["requests"] or 0),
        "reported_requests": facts.reported_requests,
        "unpriced_requests": int(row["unpriced_requests"] or 0),
        "computed_usd": _usd(computed),
        "reported_usd": _usd(reported_usd),
        "difference_usd": _usd(difference),
        "difference_pct": None if pct is None else round(pct, 4),
        "likely_cause": likely_cause(facts).cause,
    }


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 10)


async def reconciliation(
    resources: Resources,
    org_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    group_by: str,
    filters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Reported against computed cost over [start, end), per ``group_by`` key and in total."""
    usage = resources.org_usage(org_id)
    columns = tuple((c, tuple(v)) for c, v in sorted((filters or {}).items()) if v)
    where = repository.UsageFilter(start, end, columns)
    rows = await repository.reconciliation_rows(usage, group_by, where)
    totals = (await repository.reconciliation_rows(usage, None, where))[0]
    return {
        "from": start,
        "to": end,
        "group_by": group_by,
        "items": [_item(r) for r in rows],
        "totals": _item(totals),
    }
