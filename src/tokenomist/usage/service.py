"""What the usage domain does: take usage in (any format), price it, store it, summarise it.

Pipeline for every source: parse (format module) → validate (column-wise) → price (per
(provider, model, tier) group) → store (staged, de-duplicated on (org, request_id)). The
CPU-bound steps run off the event loop.

Duplicates are decided where the truth is shared: with a PostgreSQL tier (N instances), each
new id is claimed in ``usage_claims`` inside a transaction that spans the analytics insert, so
two instances taking the same batch at once land it once. On the embedded tiers (SQLite +
chDB) one process owns the data dir, and the per-org lock below is enough.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import structlog

from tokenomist.kit import db
from tokenomist.kit.errors import PayloadTooLarge, Unprocessable
from tokenomist.kit.resources import Resources
from tokenomist.usage import formats, repository
from tokenomist.usage.formats import ImportOptions, Unparseable
from tokenomist.usage.pricing import Pricer, get_pricer
from tokenomist.usage.records import Parsed, RowError, price, records_to_parsed
from tokenomist.usage.validation import validate

log = structlog.get_logger(__name__)

MAX_REPORTED_ERRORS = 1000  # a report lists this many row errors; the count is always exact


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unpriced: int = 0
    cost_usd: float = 0.0
    errors: list[RowError] = field(default_factory=list)
    format: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)  # reason code → rows left out

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "skipped": dict(self.skipped),
            "unpriced": self.unpriced,
            "cost_usd": round(self.cost_usd, 10),
            "errors": [e.as_dict() for e in self.errors[:MAX_REPORTED_ERRORS]],
            "errors_truncated": len(self.errors) > MAX_REPORTED_ERRORS,
        }


# One writer per (analytics backend, org) in this process: the duplicate check and the insert
# must not interleave with another batch of the same org.
_locks: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _org_lock(backend: Any, org_id: str) -> asyncio.Lock:
    per_backend = _locks.setdefault(backend, {})
    return per_backend.setdefault(org_id, asyncio.Lock())


def claims_needed(resources: Resources) -> bool:
    """Whether other instances can ingest for the same orgs: they share a PostgreSQL tier.
    A SQLite file is one host's, one process's in practice (chDB beside it is locked)."""
    return db.backend_name(resources.database_url) == "postgresql"


async def _store(resources: Resources, org_id: str, stage: pa.Table) -> repository.StoreResult:
    if not claims_needed(resources):
        return await repository.store(resources.analytics, org_id, stage)
    # The claims commit only after the analytics insert returned; an insert that fails rolls
    # them back, so a retry (here or on another instance) can land the rows.
    async with db.transaction(resources.sessions) as session:

        async def claim(ids: pa.Array) -> pa.Array:
            return await repository.claim_ids(session, org_id, ids)

        return await repository.store(resources.analytics, org_id, stage, claim=claim)


def pricer_of(resources: Resources) -> Pricer:
    # The CLI's --local mode opens the tiers without the usage lifecycle: price from settings.
    return resources.pricer if resources.pricer is not None else get_pricer(resources.settings)


PARALLEL_MIN_ROWS = 200_000  # below this, splitting costs more than it saves


def _prepare(parsed: Parsed, pricer: Pricer, source: str, validated=None):
    valid, errors = validated or validate(parsed.table)
    n = valid.num_rows
    if n < PARALLEL_MIN_ROWS:
        return repository.to_stage_table(price(valid, pricer), source), errors
    # Arrow kernels release the GIL: price two halves at once on two cores.
    from concurrent.futures import ThreadPoolExecutor

    halves = [valid.slice(0, n // 2), valid.slice(n // 2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        staged = list(
            pool.map(lambda t: repository.to_stage_table(price(t, pricer), source), halves)
        )
    return pa.concat_tables(staged), errors


async def ingest_parsed(
    resources: Resources,
    org_id: str,
    parsed: Parsed,
    *,
    source: str,
    fmt: str | None = None,
    validated: tuple | None = None,
) -> IngestReport:
    """Validate (unless ``validated`` already holds the result), price and store."""
    stage, errors = await asyncio.to_thread(
        _prepare, parsed, pricer_of(resources), source, validated
    )
    backend = resources.analytics
    async with _org_lock(backend, org_id):  # in-process: no wait on our own claims
        stored = await _store(resources, org_id, stage)
    if stored.inserted and resources.alerts is not None:
        resources.alerts.poke()  # new spend: evaluate budgets now, not at the next tick
    all_errors = sorted(parsed.errors + errors, key=lambda e: e.index)
    report = IngestReport(
        accepted=stored.inserted,
        duplicates=stored.duplicates,
        rejected=len(all_errors),
        unpriced=stored.unpriced,
        cost_usd=stored.cost_usd,
        errors=all_errors,
        format=fmt,
        skipped=parsed.skipped,
    )
    log.info(
        "usage.ingested", org_id=org_id, source=source, format=fmt, accepted=report.accepted,
        duplicates=report.duplicates, rejected=report.rejected, unpriced=report.unpriced,
        skipped=sum(report.skipped.values()),
    )  # fmt: skip
    return report


async def ingest_records(
    resources: Resources, org_id: str, records: list[dict], *, source: str
) -> IngestReport:
    """Canonical records (DESIGN §4) → priced rows in ``llm_usage``; invalid ones reported."""
    parsed = await asyncio.to_thread(records_to_parsed, records)
    return await ingest_parsed(resources, org_id, parsed, source=source, fmt="canonical")


def check_size(resources: Resources, size: int) -> None:
    limit = resources.settings.max_body_bytes
    if size > limit:
        raise PayloadTooLarge(
            f"body of {size:,} bytes exceeds the limit of {limit:,} bytes "
            "(TOKENOMIST_MAX_BODY_BYTES); split the file (the CLI streams it in chunks)",
            details={"limit_bytes": limit},
        )


def _parse(module: Any, data: bytes, options: ImportOptions) -> Parsed:
    try:
        return module.parse(data, options)
    except Unparseable as exc:
        raise Unprocessable(
            f"cannot read the input as {module.NAME}: {exc}",
            code="unparseable_input",
            details={"format": module.NAME},
        ) from None


async def import_bytes(
    resources: Resources,
    org_id: str,
    data: bytes,
    *,
    format: str | None = None,
    options: ImportOptions | None = None,
    source: str = "import",
) -> IngestReport:
    """A whole file (or a chunk of one) in any known format; ``format=None`` detects it. An
    empty one is refused (``empty_input``) whatever the format."""
    formats.require_content(data, "request body" if source == "api" else "file")
    module = formats.resolve(format, data)
    options = options or ImportOptions()
    if not resources.settings.usage_derive_fingerprints:
        options = dataclasses.replace(options, derive_fingerprints=False)
    parsed = await asyncio.to_thread(_parse, module, data, options)
    return await ingest_parsed(resources, org_id, parsed, source=source, fmt=module.NAME)


async def import_file(
    resources: Resources,
    org_id: str,
    path: Path,
    *,
    format: str | None = None,
    options: ImportOptions | None = None,
) -> IngestReport:
    """Bulk-load a local file (no body limit: this is the ``--local`` and benchmark path).

    A clean canonical NDJSON file on the embedded engine is read by the engine itself;
    anything else goes through the format's own reader."""
    source = f"file:{path.name}"
    head = await asyncio.to_thread(_head, path)
    if formats.is_empty(head):  # empty, or 64 KiB of blanks: the whole file decides
        data = await asyncio.to_thread(path.read_bytes)
        return await import_bytes(
            resources, org_id, data, format=format, options=options, source=source
        )
    module = formats.resolve(format, head)
    if module.NAME == "canonical" and formats.first_char(head) == b"{":
        parsed = await _engine_read(resources, path)
        if parsed is not None:
            validated = await asyncio.to_thread(validate, parsed.table)
            # The engine numbers rows and skips blank lines; errors must name real lines.
            if not validated[1] or not await asyncio.to_thread(_has_blank_lines, path):
                return await ingest_parsed(
                    resources, org_id, parsed, source=source, fmt=module.NAME,
                    validated=validated,
                )  # fmt: skip
    data = await asyncio.to_thread(path.read_bytes)
    return await import_bytes(
        resources, org_id, data, format=module.NAME, options=options, source=source
    )


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(65536)


def _has_blank_lines(path: Path) -> bool:
    import mmap

    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b"\n\n") >= 0


async def _engine_read(resources: Resources, path: Path) -> Parsed | None:
    absolute = await asyncio.to_thread(path.resolve)
    if (await asyncio.to_thread(absolute.stat)).st_size == 0:
        return None
    table = await repository.read_ndjson_file(resources.analytics, absolute)
    if table is None:
        return None
    # Raw prompts must be hashed into fingerprints: the row reader does that.
    for name in ("prompt", "prompt_prefix"):
        if table.column(name).null_count != table.num_rows:
            return None
    from tokenomist.usage.records import conform

    return Parsed(await asyncio.to_thread(conform, table), [], table.num_rows)


async def summary(
    resources: Resources,
    org_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    group_by: str | list[str] | None,
    filters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Totals and groups over [start, end) of the rows matching ``filters``. With two
    ``group_by`` dimensions each group's ``key`` is a list of two values."""
    usage = resources.org_usage(org_id)
    where = _filter(start, end, filters)
    dims = [group_by] if isinstance(group_by, str) else list(group_by or [])
    totals = await repository.summary_totals(usage, start, end, where)
    rows = await repository.summary_groups(usage, dims, start, end, where) if dims else []
    groups = []
    for row in rows:
        if len(dims) > 1:
            key: Any = [str(row.pop(f"key_{i}")) for i in range(len(dims))]
            groups.append({"key": key, **_numbers(row)})
        else:
            groups.append(_numbers(row))
    return {
        "from": start,
        "to": end,
        "group_by": dims[0] if len(dims) == 1 else (dims or None),
        "totals": _numbers(totals),
        "groups": groups,
    }


def _filter(
    start: datetime | None, end: datetime | None, filters: dict[str, list[str]] | None
) -> repository.UsageFilter:
    columns = tuple((c, tuple(v)) for c, v in sorted((filters or {}).items()) if v)
    return repository.UsageFilter(start, end, columns)


SERIES_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
MAX_SERIES_BUCKETS = 5000  # a year of hours; a finer request is refused, not truncated


def bucket_start(when: datetime, interval: str) -> datetime:
    """The start of the bucket holding ``when`` (UTC; weeks start on Monday, as the SQL's
    ``toMonday``)."""
    when = when.astimezone(UTC)
    if interval == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def buckets(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """Every bucket start touching [start, end), so empty buckets show up as zeros."""
    step, t, out = SERIES_STEP[interval], bucket_start(start, interval), []
    while t < end:
        out.append(t)
        if len(out) > MAX_SERIES_BUCKETS:
            raise Unprocessable(
                f"{interval} buckets over this window exceed {MAX_SERIES_BUCKETS}; "
                "choose a coarser interval or a shorter window",
                details=[{"field": "interval", "message": "too many buckets"}],
            )
        t += step
    return out


async def series(
    resources: Resources,
    org_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    interval: str,
    group_by: str | None,
    top: int,
    filters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Spend over time: the ``top`` keys of ``group_by`` by spend, the rest folded into
    ``other``, every bucket of the window present (zeros where nothing happened). Without
    ``from``/``to`` the window is the matching data's first to last bucket."""
    usage = resources.org_usage(org_id)
    where = _filter(start, end, filters)
    if start is None or end is None:
        seen = await repository.data_window(usage, where)
        if seen is not None:
            start = start or bucket_start(_parse_ch(seen[0]), interval)
            end = end or bucket_start(_parse_ch(seen[1]), interval) + SERIES_STEP[interval]
        else:  # nothing matches: an open side of the window collapses onto the other
            start = start or end
            end = end or start
    times = buckets(start, end, interval) if start is not None and end is not None else []
    keys = await repository.top_keys(usage, group_by, where, top) if group_by else []
    rows = await repository.series_points(usage, interval, group_by, keys, where)
    index = {_iso(t): i for i, t in enumerate(times)}
    lines: dict[str, list[dict[str, Any]]] = {k: _zeros(times) for k in keys}
    if group_by is None:
        lines[""] = _zeros(times)
    other = _zeros(times)
    for row in rows:
        i = index.get(row["t"])
        if i is None:  # a row inside [start, end) always has a bucket; guard against drift
            continue
        target = lines[str(row["key"])] if int(row["in_top"]) else other
        point = target[i]
        point["requests"] += int(row["requests"])
        point["input_tokens"] += int(row["input_tokens"])
        point["output_tokens"] += int(row["output_tokens"])
        point["unpriced_requests"] += int(row["unpriced_requests"])
        point["cost_usd"] = round(point["cost_usd"] + float(row["cost_usd"] or 0.0), 10)
    return {
        "from": start,
        "to": end,
        "interval": interval,
        "group_by": group_by,
        "series": [{"key": k or None, "points": v} for k, v in lines.items()],
        "other": {"points": other},
    }


def _zeros(times: list[datetime]) -> list[dict[str, Any]]:
    return [
        {"t": _iso(t), "cost_usd": 0.0, "requests": 0, "input_tokens": 0, "output_tokens": 0,
         "unpriced_requests": 0}
        for t in times
    ]  # fmt: skip


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ch(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


async def models(
    resources: Resources,
    org_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    filters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Each (provider, model) with traffic, its spend (null when unpriced) and whether the
    pricing data knows it."""
    where = _filter(start, end, filters)
    rows = await repository.models_seen(resources.org_usage(org_id), where)
    out = []
    for row in rows:
        first, last = row.pop("first_seen"), row.pop("last_seen")
        provider, model = str(row.pop("provider")), str(row.pop("model"))
        numbers = _numbers(row)
        out.append({
            "provider": provider, "model": model, **numbers,
            "priced": numbers["unpriced_requests"] < numbers["requests"],
            "first_seen": _iso(_parse_ch(first)), "last_seen": _iso(_parse_ch(last)),
        })  # fmt: skip
    return {"from": start, "to": end, "models": out}


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    # ClickHouse JSON renders 64-bit integers as strings; the API promises numbers.
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "key":
            out[key] = str(value)
        elif key == "cost_usd":
            # null when nothing in the group has a price: unpriced is never shown as $0
            out[key] = None if value is None else round(float(value), 10)
        else:
            out[key] = int(value or 0)
    return out
