"""Dated tier-to-standard price relations (``tier_relations.toml``, shipped with the package).

They price a tier call the price data has no tier price for at the call's date: OpenAI Batch
has been half the standard price since 2024-04-15, but genai-prices lists gpt-4o's batch price
only from 2026-10-14. The pricer consults them only after overrides and the data's own tier
prices; see ``Pricer._from_data``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

SHIPPED = Path(__file__).with_name("tier_relations.toml")


@dataclass(frozen=True)
class TierRelation:
    """From ``start`` (a UTC date, inclusive), ``provider``'s ``service_tier`` costs
    ``factor`` times its standard price of the same date."""

    provider: str  # the price data's provider id
    service_tier: str
    factor: float
    start: date

    def label(self) -> str:
        """How a price source names it: ``standard × 0.5 (openai batch from 2024-04-15)``."""  # noqa: RUF002
        return (
            f"standard × {self.factor:g} "  # noqa: RUF001
            f"({self.provider} {self.service_tier} from {self.start.isoformat()})"
        )


class TierRelations:
    """Lookups over the relations of one file."""

    def __init__(self, relations: tuple[TierRelation, ...]) -> None:
        self.relations = relations
        self._covered = {(r.provider, r.service_tier) for r in relations}

    def covers(self, provider: str, tier: str) -> bool:
        """Whether some date of this provider's tier is priced by a relation (its price then
        depends on the call's day)."""
        return (provider, tier) in self._covered

    def at(self, provider: str, tier: str, when: datetime) -> TierRelation | None:
        """The relation in force on ``when``'s UTC date: the latest started, or None."""
        day = when.date()
        live = [
            r
            for r in self.relations
            if r.provider == provider and r.service_tier == tier and r.start <= day
        ]
        return max(live, key=lambda r: r.start, default=None)


def load(path: Path, tiers: Collection[str]) -> TierRelations:
    """Read and check a relations file; ``tiers`` are the non-standard tiers it may name. A
    malformed file raises ValueError naming the file and entry (it ships with the package, so
    that is a packaging bug, caught by the tests)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, entry in enumerate(raw.get("relation", [])):
        where = f"{path}: [[relation]] #{i + 1}"
        provider, tier = entry.get("provider"), entry.get("service_tier")
        factor, start = entry.get("factor"), entry.get("start")
        if not isinstance(provider, str) or not provider:
            raise ValueError(f"{where}: provider must be a price-data provider id")
        if tier not in tiers:
            raise ValueError(f"{where}: service_tier {tier!r} is not one of {', '.join(tiers)}")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
            raise ValueError(f"{where}: factor must be a positive number, got {factor!r}")
        if not isinstance(start, date) or isinstance(start, datetime):
            raise ValueError(f"{where}: start must be a TOML date (2024-04-15), got {start!r}")
        out.append(TierRelation(provider.strip().lower(), tier, float(factor), start))
    return TierRelations(tuple(out))


@lru_cache(maxsize=1)
def shipped(tiers: tuple[str, ...]) -> TierRelations:
    return load(SHIPPED, tiers)
