"""What every strategy shares: its inputs, its finding, and pricing of aggregated groups.

Strategies aggregate in ClickHouse (GROUP BY cell = provider, model, project, feature, plus
the service tier and long-context price bucket where prices depend on them) and price each
group with the pricing module's unit prices — never row by row in Python.

Money conventions: the current cost of traffic is the ``cost_usd`` stored at ingest (priced by
the pricing module). The cost under a change is the same tokens priced with the pricing
module's unit prices for the alternative. Rows without a price (``cost_usd`` NULL) are left out
of every saving and counted as unpriced.

The shared loop: a strategy that re-prices traffic picks what is eligible, sums it with
``priced_groups``, totals each cell at the alternative's prices with ``reprice`` and keeps the
cells that get cheaper with ``saving_cells``; a strategy that removes calls turns each row of
its own query into a cell with ``removal``. What is left in its module is its own: which
traffic, which alternative, its thresholds (``Section``) and its wording.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from tokenomist.analyst.query import Filters, Window, list_param, number_list, where
from tokenomist.kit.analytics import OrgAnalytics
from tokenomist.usage.pricing import Pricer, UnitPrices

if TYPE_CHECKING:  # the catalogue is assembled from the strategies' sections
    from tokenomist.analyst.catalogue import Catalogue

CellKey = tuple[str, str, str, str]  # provider, model, project, feature
CELL_COLUMNS = ("provider", "model", "project", "feature")
K = TypeVar("K", bound=Hashable)

Level = Literal["low", "medium", "high"]


class StrategySection(BaseModel):
    """A strategy's table in the catalogue (``[<strategy id>]`` in ``catalogue.toml``): its
    thresholds, and the effort and risk its actions carry. Subclass it per strategy."""

    model_config = ConfigDict(extra="forbid")
    effort: Level = "medium"
    risk: Level = "low"


class Strategy(Protocol):
    """One strategy: a module of ``analyst/strategies/`` with these names, registered in
    ``strategies.REGISTRY`` (which also says how its savings combine with the others)."""

    ID: str  # the report's strategy id, its ``find_<id>`` tool and its catalogue table
    TITLE: str

    # Read-only, so a module's own subclass satisfies it.
    @property
    def Section(self) -> type[StrategySection]:
        """The model of its catalogue table: a ``StrategySection`` subclass."""
        ...

    async def find(self, env: StrategyEnv) -> Finding | None:
        """Its standalone saving per cell over ``env.window``; None when nothing is found."""
        ...


@dataclass(frozen=True)
class CellStats:
    requests: int
    spend_usd: float  # priced rows only
    unpriced_requests: int


@dataclass(frozen=True)
class StrategyEnv:
    usage: OrgAnalytics
    pricer: Pricer
    catalogue: Catalogue
    window: Window
    filters: Filters = field(default_factory=Filters)
    # Every cell (provider, model, project, feature) in the window with its totals.
    cells: dict[CellKey, CellStats] = field(default_factory=dict)

    @property
    def models(self) -> list[tuple[str, str]]:
        return sorted({(c[0], c[1]) for c in self.cells})

    def calls(self, cell: CellKey) -> int:
        stats = self.cells.get(cell)
        return stats.requests if stats else 0

    def where(self, extra: str = "") -> tuple[str, dict[str, Any]]:
        cond, params = where(self.window, self.filters)
        return (f"{cond} AND {extra}" if extra else cond), params


@dataclass(frozen=True)
class Tokens:
    requests: int
    input: int
    cached: int
    cache_write: int
    output: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Tokens:
        return cls(
            int(row["requests"]),
            int(row["sum_input_tokens"]),
            int(row["sum_cached_input_tokens"]),
            int(row["sum_cache_write_tokens"]),
            int(row["sum_output_tokens"]),
        )


# Aliases never reuse a column name: ClickHouse resolves an alias before the column, so
# ``sum(x) AS x`` would turn every later ``x`` in the query into the aggregate.
SUMS_SQL = (
    "count() AS requests, sum(input_tokens) AS sum_input_tokens, "
    "sum(cached_input_tokens) AS sum_cached_input_tokens, "
    "sum(cache_write_tokens) AS sum_cache_write_tokens, sum(output_tokens) AS sum_output_tokens"
)


@dataclass(frozen=True)
class PriceBuckets:
    """Long-context prices apply to a whole call whose input exceeds a threshold, so sums
    must not mix calls of different price bands. Calls are grouped by the number of
    thresholds their input exceeds (the union of the thresholds of every model involved, so
    each bucket sits inside one band of each model)."""

    thresholds: tuple[int, ...]

    @classmethod
    def for_prices(cls, prices: Iterable[UnitPrices | None]) -> PriceBuckets:
        found = {t for p in prices if p is not None for t, _ in p.tiers}
        return cls(tuple(sorted(found)))

    def sql(self) -> tuple[str, dict[str, Any]]:
        if not self.thresholds:
            return "toUInt64(0)", {}
        expr = f"toUInt64(arrayCount(t -> input_tokens > t, {number_list('pb_thresholds')}))"
        return expr, {"pb_thresholds": list_param(str(t) for t in self.thresholds)}

    def representative_input(self, bucket: int) -> int:
        return 0 if bucket <= 0 else self.thresholds[bucket - 1] + 1


def group_cost(prices: UnitPrices, tokens: Tokens, bucket_input: int = 0) -> float:
    """USD for a group of calls in one price band, from their summed tokens."""
    p = prices.for_input(bucket_input)
    uncached = max(tokens.input - tokens.cached - tokens.cache_write, 0)
    return (
        uncached * p.input_mtok
        + tokens.cached * p.cached_input_mtok
        + tokens.cache_write * p.cache_write_mtok
        + tokens.output * p.output_mtok
    ) / 1_000_000 + p.request_usd * tokens.requests


async def priced_groups(
    env: StrategyEnv,
    cond: str,
    params: dict[str, Any],
    buckets: PriceBuckets,
    split: str = "service_tier",
    split_sql: str = "service_tier",
) -> list[dict[str, Any]]:
    """Summed tokens and stored cost of the priced calls matching ``cond``, per cell, ``split``
    (``split_sql`` selects it) and price bucket: what ``reprice`` takes."""
    bucket_sql, bucket_params = buckets.sql()
    return await env.usage.query(
        f"""
        SELECT provider, model, project, feature, {split_sql}, {bucket_sql} AS bucket,
               {SUMS_SQL}, sum(cost_usd) AS sum_cost_usd
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature, {split}, bucket
        """,
        {**params, **bucket_params},
    )


@dataclass
class Repriced:
    """Traffic under a change: its stored cost, its cost at the alternative's prices, calls."""

    current: float = 0.0
    alternative: float = 0.0
    requests: int = 0

    @property
    def saving(self) -> float:
        return self.current - self.alternative


def reprice(
    groups: Iterable[dict[str, Any]],
    buckets: PriceBuckets,
    key_of: Callable[[dict[str, Any]], K | None],
    prices_of: Callable[[dict[str, Any]], UnitPrices | None],
) -> dict[K, Repriced]:
    """Total ``priced_groups`` rows per key, at their stored cost and at the alternative's unit
    prices. A row whose key is None (not eligible) or whose alternative is unpriced is left
    out. Rows are added in the order the query returned them (float sums depend on it)."""
    out: dict[K, Repriced] = {}
    for g in groups:
        key = key_of(g)
        if key is None:
            continue
        prices = prices_of(g)
        if prices is None:
            continue
        tokens = Tokens.from_row(g)
        total = out.setdefault(key, Repriced())
        total.current += float(g["sum_cost_usd"])
        total.alternative += group_cost(
            prices, tokens, buckets.representative_input(int(g["bucket"]))
        )
        total.requests += tokens.requests
    return out


def saving_cells(
    keys: Iterable[K],
    totals: Mapping[K, Repriced],
    cell: Callable[[K], CellKey],
    detail: Callable[[K, Repriced], dict[str, Any]],
) -> list[CellSaving]:
    """A ``CellSaving`` for each key (in ``keys`` order) the change makes cheaper, the largest
    saving first. ``cell`` names the key's cell (``same_cell`` when the key is one)."""
    cells = []
    for key in keys:
        total = totals.get(key)
        if total is None or total.saving <= 0:
            continue
        cells.append(
            CellSaving(
                cell=cell(key),
                affected_spend_usd=total.current,
                savings_usd=total.saving,
                requests=total.requests,
                detail=detail(key, total),
            )
        )
    cells.sort(key=lambda c: c.savings_usd, reverse=True)
    return cells


@dataclass
class CellSaving:
    """A strategy's saving inside one cell (provider, model, project, feature)."""

    cell: CellKey
    affected_spend_usd: float
    savings_usd: float
    requests: int
    detail: dict[str, Any] = field(default_factory=dict)

    def scope(self) -> dict[str, Any]:
        return dict(zip(CELL_COLUMNS, self.cell, strict=True))


def removal(row: dict[str, Any], cost: str, calls: str, detail: dict[str, Any]) -> CellSaving:
    """A removal's saving in one cell (a row of its query): the whole ``cost`` of the
    ``calls`` it removes."""
    return CellSaving(
        cell=cell_of(row),
        affected_spend_usd=float(row[cost]),
        savings_usd=float(row[cost]),
        requests=int(row[calls]),
        detail=detail,
    )


@dataclass
class Finding:
    """A strategy's standalone result (before combining with the others)."""

    id: str
    title: str
    confidence: str  # high | medium | low
    cells: list[CellSaving]
    assumptions: list[str]
    evidence: dict[str, Any]
    actions: list[str]
    risk: str
    effort: str

    @property
    def savings_usd(self) -> float:
        return sum(c.savings_usd for c in self.cells)

    @property
    def affected_spend_usd(self) -> float:
        return sum(c.affected_spend_usd for c in self.cells)


def cell_of(row: dict[str, Any]) -> CellKey:
    return (row["provider"], row["model"], row["project"], row["feature"])


def same_cell(key: CellKey) -> CellKey:
    return key


def describe_cell(cell: CellKey) -> str:
    provider, model, project, feature = cell
    where_ = "/".join(x for x in (project, feature) if x) or "(no project/feature)"
    return f"{where_} on {provider} {model}"


def usd(value: float) -> str:
    return f"${value:,.2f}"
