"""What the usage domain does: take usage in (any format), price it, store it, summarise it.

Pipeline for every source: parse (format module) → validate (column-wise) → price (per
(provider, model, tier) group) → store (staged, de-duplicated on (org, request_id)). The
CPU-bound steps run off the event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import structlog

from tokenomist.kit.errors import PayloadTooLarge, Unprocessable
from tokenomist.kit.resources import Resources
from tokenomist.usage import formats, repository
from tokenomist.usage.formats import ImportOptions, Unparseable
from tokenomist.usage.pricing import Pricer, get_pricer
from tokenomist.usage.records import Parsed, RowError, price, records_to_parsed, validate

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
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
    async with _org_lock(backend, org_id):
        stored = await repository.store(backend, org_id, stage)
    all_errors = sorted(parsed.errors + errors, key=lambda e: e.index)
    report = IngestReport(
        accepted=stored.inserted,
        duplicates=stored.duplicates,
        rejected=len(all_errors),
        unpriced=stored.unpriced,
        cost_usd=stored.cost_usd,
        errors=all_errors,
        format=fmt,
    )
    log.info(
        "usage.ingested", org_id=org_id, source=source, format=fmt, accepted=report.accepted,
        duplicates=report.duplicates, rejected=report.rejected, unpriced=report.unpriced,
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
    """A whole file (or a chunk of one) in any known format; ``format=None`` detects it."""
    module = formats.resolve(format, data)
    parsed = await asyncio.to_thread(_parse, module, data, options or ImportOptions())
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
    group_by: str | None,
) -> dict[str, Any]:
    usage = resources.org_usage(org_id)
    totals = await repository.summary_totals(usage, start, end)
    groups = await repository.summary_groups(usage, group_by, start, end) if group_by else []
    return {
        "from": start,
        "to": end,
        "group_by": group_by,
        "totals": _numbers(totals),
        "groups": [_numbers(g) for g in groups],
    }


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
