"""Spend anomalies: a slice's spend in a day (or hour) against its seasonal baseline, and why
it moved.

Slices are each value of ``model``, ``project``, ``feature`` and ``end_user``. A window is one
UTC day or hour; the one still running is compared up to now. Its baseline is the same window
1-4 weeks earlier (the same weekday, and hour), shifted by whole weeks so a Monday is compared
with Mondays, never with a Sunday. Weeks before the org's first record do not count; with
fewer than two, there is no baseline and no anomaly.

Inside a slice, spend is a sum over its (project, feature) units and their models::

    cost = Σ_unit calls_unit x Σ_model share_model|unit x tokens_per_call x price_per_token

The expected state is, per (unit, model) cell, the median over the reference weeks of its
calls, tokens and cost (so one odd week does not move it); ``expected_usd`` is their sum. The
change from expected to actual is split between the four factors by their Shapley values (the
mean of each factor's effect over every order of switching them from expected to actual): the
four add up exactly to ``actual - expected``, and because the cost is a sum over cells each
factor's share splits exactly by unit too. A driver is one (feature, cause): ``volume``
(calls), ``model_mix`` (the models the feature's calls went to), ``tokens_per_call`` and
``price`` (dollars per token: prices, or the input/output/cache mix).

A window is an anomaly when its spend is above the expected by at least ``MIN_SCORE`` robust
standard deviations, ``MIN_RATIO`` of the expected and ``min_usd``. The spread is the median
absolute deviation of the reference weeks' totals, floored by the Poisson noise of the expected
number of calls and 5 % of the expected (four weeks can agree by chance). Drops are not
reported: they cost nothing.

One cause moves several slices (a feature's spike is also its project's and its model's); the
slices of one window whose top driver is the same feature are one anomaly, reported on the
narrowest slice that holds (nearly) all of the excess. Ids hash the slice and window, so the
same anomaly keeps its id from one evaluation to the next.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tokenomist.kit.analytics import OrgAnalytics
from tokenomist.usage.repository import UsageFilter

Dimension = Literal["model", "project", "feature", "end_user"]
Granularity = Literal["day", "hour"]
Cause = Literal["volume", "model_mix", "tokens_per_call", "price"]

DIMENSIONS: tuple[Dimension, ...] = ("feature", "project", "model", "end_user")  # tie order
CAUSES: tuple[Cause, ...] = ("volume", "model_mix", "tokens_per_call", "price")
STEP = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
MAX_SPAN = {"day": timedelta(days=92), "hour": timedelta(days=14)}
REFERENCE_WEEKS = 4
MIN_REFERENCES = 2
MIN_SCORE = 4.0
MIN_RATIO = 0.25
MIN_SIGMA_RATIO = 0.05
COMPLETE = 0.8  # a slice holding this share of its group's largest excess "holds it all"
MAD_TO_SIGMA = 1.4826  # the MAD of normal noise is 0.6745 sigma

_KEY_SQL = {"model": "u.model", "project": "u.project", "feature": "u.feature",
            "end_user": "u.end_user"}  # fmt: skip

Unit = tuple[str, str]  # (project, feature)
CellKey = tuple[str, str, str]  # (project, feature, model)


@dataclass
class Cell:
    calls: float = 0.0
    tokens: float = 0.0
    cost: float = 0.0
    cost_sq: float = 0.0  # Σ cost² of the calls: how unequal they are (for the noise)

    def add(self, other: Cell) -> None:
        self.calls += other.calls
        self.tokens += other.tokens
        self.cost += other.cost
        self.cost_sq += other.cost_sq


@dataclass
class Anomaly:
    id: str
    dimension: Dimension
    key: str
    granularity: Granularity
    window_from: datetime
    window_to: datetime
    observed_to: datetime
    expected_usd: float
    actual_usd: float
    score: float
    drivers: list[dict[str, Any]] = field(default_factory=list)

    def out(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dimension": self.dimension,
            "key": self.key,
            "granularity": self.granularity,
            "window": {"from": iso(self.window_from), "to": iso(self.window_to)},
            "observed_to": iso(self.observed_to),
            "expected_usd": self.expected_usd,
            "actual_usd": self.actual_usd,
            "score": self.score,
            "drivers": self.drivers,
        }


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as the API writes times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def anomaly_id(dimension: str, key: str, granularity: str, start: datetime) -> str:
    raw = "\x1f".join((dimension, key, granularity, iso(start)))
    return "an_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def floor(value: datetime, granularity: Granularity) -> datetime:
    value = value.astimezone(UTC)
    if granularity == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


# -- reading ---------------------------------------------------------------------------------

Hours = dict[str, dict[datetime, dict[CellKey, Cell]]]  # slice key → hour → cell → totals


Columns = tuple[tuple[str, tuple[str, ...]], ...]  # a scope: column → the values it may take


async def _hours(
    usage: OrgAnalytics, dimension: Dimension, start: datetime, end: datetime, columns: Columns
) -> Hours:
    """Priced spend per (slice key, UTC hour, project, feature, model) over [start, end), of
    the rows inside ``columns``."""
    cond, params = UsageFilter(start, end, columns).where()
    rows = await usage.query(
        f"SELECT {_KEY_SQL[dimension]} AS key, "
        "formatDateTime(toStartOfHour(u.timestamp), '%Y-%m-%dT%H:00:00Z') AS hour, "
        "u.project AS project, u.feature AS feature, u.model AS model, count() AS calls, "
        "sum(u.input_tokens + u.output_tokens) AS tokens, sum(u.cost_usd) AS cost, "
        "sum(u.cost_usd * u.cost_usd) AS cost_sq "
        f"FROM {{usage}} AS u WHERE {cond} AND u.cost_usd IS NOT NULL "
        "GROUP BY key, hour, project, feature, model",
        params,
    )
    out: Hours = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        hour = datetime.fromisoformat(str(r["hour"]).replace("Z", "+00:00"))
        calls, tokens, cost = float(r["calls"]), float(r["tokens"]), float(r["cost"] or 0.0)
        # A call billed per request with no tokens: count it as one token, so that
        # calls x tokens/call x price/token still gives its cost.
        tokens = tokens or calls
        cell = (str(r["project"]), str(r["feature"]), str(r["model"]))
        out[str(r["key"])][hour][cell] = Cell(calls, tokens, cost, float(r["cost_sq"] or 0.0))
    return out


async def first_seen(usage: OrgAnalytics) -> datetime | None:
    rows = await usage.query(
        "SELECT count() AS n, formatDateTime(min(u.timestamp), '%Y-%m-%dT%H:%i:%SZ') AS first "
        "FROM {usage} AS u WHERE u.cost_usd IS NOT NULL"
    )
    if not rows or not int(rows[0]["n"]):
        return None
    return datetime.fromisoformat(str(rows[0]["first"]).replace("Z", "+00:00"))


def _cells(hours: dict[datetime, dict[CellKey, Cell]], start: datetime, end: datetime) -> dict:
    out: dict[CellKey, Cell] = defaultdict(Cell)
    hour = floor(start, "hour")
    while hour < end:
        for key, cell in hours.get(hour, {}).items():
            out[key].add(cell)
        hour += timedelta(hours=1)
    return dict(out)


# -- the decomposition -----------------------------------------------------------------------


@dataclass
class _Side:
    calls: float
    share: dict[str, float]
    tpc: dict[str, float]
    price: dict[str, float]


def _side(cells: dict[str, Cell]) -> _Side:
    calls = sum(c.calls for c in cells.values())
    share, tpc, price = {}, {}, {}
    for model, c in cells.items():
        if c.calls <= 0:
            continue
        share[model] = c.calls / calls
        tpc[model] = c.tokens / c.calls
        price[model] = c.cost / c.tokens
    return _Side(calls, share, tpc, price)


def _fill(a: _Side, b: _Side) -> None:
    """Give ``a`` what it lacks from ``b``: a unit with no calls takes the other side's mix,
    a model with no calls the other side's tokens per call and price (so an appearing or
    vanishing model is all mix, an appearing or vanishing unit all volume)."""
    if a.calls <= 0:
        a.share = dict(b.share)
    for model in b.share:
        a.tpc.setdefault(model, b.tpc[model])
        a.price.setdefault(model, b.price[model])


_WEIGHT = {k: math.factorial(k) * math.factorial(len(CAUSES) - k - 1) / math.factorial(len(CAUSES))
           for k in range(len(CAUSES))}  # fmt: skip


def shapley(expected: dict[str, Cell], actual: dict[str, Cell]) -> dict[Cause, float]:
    """One unit's change in cost split between the four causes; the parts sum to
    ``Σ actual.cost - Σ expected.cost`` (up to float rounding)."""
    e, a = _side(expected), _side(actual)
    _fill(e, a)
    _fill(a, e)
    models = sorted(set(e.share) | set(a.share))

    def cost(switched: frozenset[str]) -> float:
        s = a if "volume" in switched else e
        mix = a if "model_mix" in switched else e
        tpc = a if "tokens_per_call" in switched else e
        price = a if "price" in switched else e
        return s.calls * sum(
            mix.share.get(m, 0.0) * tpc.tpc.get(m, 0.0) * price.price.get(m, 0.0) for m in models
        )

    memo: dict[frozenset[str], float] = {}

    def f(switched: frozenset[str]) -> float:
        if switched not in memo:
            memo[switched] = cost(switched)
        return memo[switched]

    out: dict[Cause, float] = {}
    for cause in CAUSES:
        others = [c for c in CAUSES if c != cause]
        total = 0.0
        for k in range(len(others) + 1):
            for subset in itertools.combinations(others, k):
                s = frozenset(subset)
                total += _WEIGHT[k] * (f(s | {cause}) - f(s))
        out[cause] = total
    return out


def drivers(expected: dict[CellKey, Cell], actual: dict[CellKey, Cell]) -> list[dict[str, Any]]:
    """Per (feature, cause), biggest first; they add up to actual - expected."""
    units: dict[Unit, tuple[dict[str, Cell], dict[str, Cell]]] = defaultdict(lambda: ({}, {}))
    for (project, feature, model), c in expected.items():
        units[(project, feature)][0][model] = c
    for (project, feature, model), c in actual.items():
        units[(project, feature)][1][model] = c
    by_key: dict[tuple[str, Cause], float] = defaultdict(float)
    for (_project, feature), (exp, act) in units.items():
        for cause, delta in shapley(exp, act).items():
            by_key[(feature, cause)] += delta
    out = [
        {"dimension": "feature", "key": feature, "delta_usd": round(delta, 6), "cause": cause}
        for (feature, cause), delta in by_key.items()
        if abs(delta) >= 5e-7
    ]
    return sorted(out, key=lambda d: (-abs(d["delta_usd"]), d["key"], d["cause"]))


# -- detection -------------------------------------------------------------------------------


def _median_cells(refs: list[dict[CellKey, Cell]]) -> dict[CellKey, Cell]:
    """Per cell, the median of its calls, tokens and cost over the references (0 where a
    reference has none). A cell's three medians stay consistent: a reference without calls
    has no tokens and no cost either, so they sort the same way."""
    keys = set().union(*refs)
    out = {}
    for key in keys:
        cells = [r.get(key, Cell()) for r in refs]
        median = Cell(
            statistics.median(c.calls for c in cells),
            statistics.median(c.tokens for c in cells),
            statistics.median(c.cost for c in cells),
            statistics.median(c.cost_sq for c in cells),
        )
        if median.calls > 0:
            out[key] = median
    return out


def _score(actual: float, expected: Cell, refs: list[dict[CellKey, Cell]]) -> float:
    totals = [sum(c.cost for c in r.values()) for r in refs]
    centre = statistics.median(totals)
    mad = statistics.median(abs(t - centre) for t in totals)
    # Calls arriving at random, each costing what the reference weeks' calls cost: the
    # window's spend varies by expected calls x mean(cost²) (compound Poisson).
    calls = sum(c.calls for r in refs for c in r.values())
    mean_sq = sum(c.cost_sq for r in refs for c in r.values()) / calls if calls else 0.0
    sigma = max(
        MAD_TO_SIGMA * mad,
        math.sqrt(max(expected.calls, 1.0) * mean_sq),
        MIN_SIGMA_RATIO * expected.cost,
        0.01,
    )
    return (actual - expected.cost) / sigma


def _candidates(
    dimension: Dimension,
    hours: Hours,
    windows: list[tuple[datetime, datetime, datetime]],
    granularity: Granularity,
    data_start: datetime,
    min_usd: float,
) -> list[Anomaly]:
    found = []
    for key, by_hour in hours.items():
        for start, end, observed in windows:
            actual = _cells(by_hour, start, observed)
            actual_usd = sum(c.cost for c in actual.values())
            if actual_usd < min_usd:
                continue
            refs = []
            for week in range(1, REFERENCE_WEEKS + 1):
                shift = timedelta(weeks=week)
                if start - shift < floor(data_start, granularity):
                    break
                refs.append(_cells(by_hour, start - shift, observed - shift))
            if len(refs) < MIN_REFERENCES:
                continue
            expected = _median_cells(refs)
            total = Cell()
            for c in expected.values():
                total.add(c)
            excess = actual_usd - total.cost
            if excess < max(min_usd, MIN_RATIO * total.cost):
                continue
            score = _score(actual_usd, total, refs)
            if score < MIN_SCORE:
                continue
            found.append(
                Anomaly(
                    id=anomaly_id(dimension, key, granularity, start),
                    dimension=dimension,
                    key=key,
                    granularity=granularity,
                    window_from=start,
                    window_to=end,
                    observed_to=observed,
                    expected_usd=round(total.cost, 6),
                    actual_usd=round(actual_usd, 6),
                    score=round(score, 2),
                    drivers=drivers(expected, actual),
                )
            )
    return found


def consolidate(found: list[Anomaly]) -> list[Anomaly]:
    """One anomaly per (window, top driver's feature): the narrowest slice holding nearly all
    of the group's largest excess (ties: feature, project, model, end user)."""
    groups: dict[tuple[datetime, str], list[Anomaly]] = defaultdict(list)
    for a in found:
        top = a.drivers[0]["key"] if a.drivers else f"{a.dimension}:{a.key}"
        groups[(a.window_from, top)].append(a)
    out = []
    for members in groups.values():
        most = max(m.actual_usd - m.expected_usd for m in members)
        holding = [m for m in members if m.actual_usd - m.expected_usd >= COMPLETE * most]
        out.append(min(holding, key=lambda m: (m.actual_usd, DIMENSIONS.index(m.dimension))))
    return sorted(out, key=lambda a: (a.window_from, -a.score, a.id))


def windows_of(
    start: datetime, end: datetime, granularity: Granularity, now: datetime
) -> list[tuple[datetime, datetime, datetime]]:
    """(window start, window end, observed end) of each window touching [start, end) that
    has begun by ``now``."""
    out = []
    cursor = floor(start, granularity)
    stop = min(end, now)
    while cursor < stop:
        nxt = cursor + STEP[granularity]
        out.append((cursor, nxt, min(nxt, now)))
        cursor = nxt
    return out


async def detect(
    usage: OrgAnalytics,
    start: datetime,
    end: datetime,
    now: datetime,
    granularity: Granularity = "day",
    min_usd: float = 1.0,
    columns: Columns = (),
) -> list[Anomaly]:
    """The org's spend anomalies in the windows touching [start, end), oldest first; with
    ``columns``, those of that part of its usage only (its slices, against its own past)."""
    windows = windows_of(start, end, granularity, now)
    data_start = await first_seen(usage)
    if not windows or data_start is None:
        return []
    read_from = windows[0][0] - timedelta(weeks=REFERENCE_WEEKS)
    read_to = windows[-1][2]
    found: list[Anomaly] = []
    for dimension in DIMENSIONS:
        hours = await _hours(usage, dimension, read_from, read_to, columns)
        found += _candidates(dimension, hours, windows, granularity, data_start, min_usd)
    return consolidate(found)
