"""Usage HTTP API: ingest (records, file import, OTLP traces) and the spend summary.

Bodies are cut at ``settings.max_body_bytes`` while they stream in, by the body-limit guard in
front of every route (kit/body_limit.py, ``INGEST_PATHS`` below): a 413 before anything past
the limit is buffered or, for a multipart upload, spooled to disk. File import takes the file
either as the raw request body (any content type; what the CLI sends, chunk by chunk) or as
``multipart/form-data`` with one field named ``file`` (what a browser form sends).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tokenomist.auth.dependencies import Principal, require_scope
from tokenomist.kit.errors import PayloadTooLarge, Unprocessable
from tokenomist.kit.hygiene import InRangeDatetime
from tokenomist.kit.resources import ResourcesDep
from tokenomist.usage import formats, reconciliation, service
from tokenomist.usage import openapi as docs
from tokenomist.usage.formats import ImportOptions, otlp
from tokenomist.usage.schemas import (
    Dimension,
    GroupBy,
    IngestReportOut,
    Interval,
    ModelsOut,
    ReconcileGroupBy,
    ReconciliationOut,
    SeriesOut,
    SummaryOut,
)

router = APIRouter(tags=["usage"])
IngestPrincipal = Annotated[Principal, Depends(require_scope("ingest"))]
ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]
# Routes whose bodies may be as large as ``max_body_bytes`` (the others get
# ``max_api_body_bytes``).
INGEST_PATHS = ("/api/v1/usage", "/api/v1/usage/import", "/v1/traces")


async def read_body(request: Request, limit: int) -> bytes:
    """The body (bounded by the guard), gunzipped within the same limit."""
    data = await request.body()
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        data = _gunzip(data, limit)
    elif encoding not in ("identity", ""):
        raise Unprocessable(
            f"unsupported Content-Encoding {encoding!r}; send identity or gzip",
            code="unsupported_encoding",
        )
    return data


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise Unprocessable(f"body is not valid gzip: {exc}", code="unparseable_input") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"decompressed body exceeds the limit of {limit:,} bytes",
            details={"limit_bytes": limit},
        )
    return out


@router.post("/api/v1/usage", response_model=IngestReportOut, openapi_extra=docs.usage_body())
async def ingest_usage(
    request: Request, resources: ResourcesDep, principal: IngestPrincipal
) -> dict:
    """Canonical records as a JSON array or NDJSON. Valid rows land even if others fail."""
    data = await read_body(request, resources.settings.max_body_bytes)
    report = await service.import_bytes(
        resources, principal.org_id, data, format="canonical", source="api"
    )
    return report.as_dict()


@router.post(
    "/api/v1/usage/import", response_model=IngestReportOut, openapi_extra=docs.import_body()
)
async def import_usage(
    request: Request,
    resources: ResourcesDep,
    principal: IngestPrincipal,
    format: Annotated[
        str | None, Query(description="format name; omitted or 'auto' detects it")
    ] = None,
    provider: Annotated[str | None, Query(description="azure-trace: provider")] = None,
    model: Annotated[str | None, Query(description="azure-trace: model")] = None,
    project: Annotated[str | None, Query(description="azure-trace: project tag")] = None,
) -> dict:
    """A usage file in any known format (see ``GET /api/v1/usage/formats``)."""
    if not formats.is_auto(format):
        formats.get(format or "")  # an unknown name is a 422 before the upload is read
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        data = await _multipart_file(request)
    else:
        data = await read_body(request, resources.settings.max_body_bytes)
    report = await service.import_bytes(
        resources,
        principal.org_id,
        data,
        format=format,
        options=ImportOptions(provider=provider, model=model, project=project),
        source="import",
    )
    return report.as_dict()


async def _multipart_file(request: Request) -> bytes:
    # The guard stops the parser at the body limit, so the spooled file stays within it.
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Unprocessable(
            "multipart upload needs one file field named 'file'",
            code="validation_error",
            details=[{"field": "file", "message": "missing"}],
        )
    return await upload.read()


@router.get("/api/v1/usage/formats")
async def list_formats(principal: ReadPrincipal) -> dict:
    return {"formats": [{"name": k, "description": v} for k, v in formats.known().items()]}


@router.post("/v1/traces", openapi_extra=docs.otlp_body())
async def otlp_traces(
    request: Request, resources: ResourcesDep, principal: IngestPrincipal
) -> Response:
    """OTLP/HTTP trace export (protobuf or JSON). GenAI spans become usage records; the
    answer is an ExportTraceServiceResponse, with partial success when spans were rejected."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-protobuf", "application/protobuf", "application/json"):
        raise Unprocessable(
            f"unsupported Content-Type {content_type or '(none)'!r}; OTLP/HTTP sends "
            "application/x-protobuf or application/json",
            code="unsupported_media_type",
            status_code=415,
        )
    protobuf = content_type != "application/json"
    data = await read_body(request, resources.settings.max_body_bytes)
    try:
        options = ImportOptions(derive_fingerprints=resources.settings.usage_derive_fingerprints)
        parsed = otlp.parse(data, options, protobuf=protobuf)
    except formats.Unparseable as exc:
        raise Unprocessable(
            f"cannot read the OTLP export: {exc}", code="unparseable_input"
        ) from None
    report = await service.ingest_parsed(
        resources, principal.org_id, parsed, source="otlp", fmt=otlp.NAME
    )
    message = "; ".join(f"span {e.index}: {e.field} {e.message}" for e in report.errors[:20])
    body, media_type = otlp.export_response(report.rejected, message, protobuf=protobuf)
    return Response(content=body, media_type=media_type)


# -- dashboard reads -----------------------------------------------------------------------

EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2201, 1, 1, tzinfo=UTC)
FILTER_PARAMS = ("provider", "model", "project", "feature", "end_user")
FilterValues = Annotated[list[str], Query(description="exact match; repeat for several")]


def known_params(*names: str):
    """A dependency refusing any query parameter outside ``names``: a misspelt filter must
    not silently widen the answer to all data."""
    allowed = frozenset(names)

    async def check(request: Request) -> None:
        unknown = sorted({k for k in request.query_params if k not in allowed})
        if unknown:
            raise Unprocessable(
                f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)}; known: {', '.join(sorted(allowed))}",
                details=[{"field": f"query.{u}", "message": "unknown parameter"} for u in unknown],
            )

    return Depends(check)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise Unprocessable(
            f"'{name}' must be between 1970-01-01 and 2200-12-31, got {value:%Y-%m-%d}",
            details=[{"field": f"query.{name}", "message": "out of range 1970-2200"}],
        )
    return value


def window_params(from_: datetime | None, to: datetime | None) -> tuple[datetime | None, ...]:
    """``from``/``to`` query values as UTC, checked: in range, ``from`` before ``to``."""
    start, end = _utc(from_, "from"), _utc(to, "to")
    if start is not None and end is not None and start >= end:
        raise Unprocessable(
            "'from' must be before 'to'",
            details=[{"field": "query.from", "message": "must be before 'to'"}],
        )
    return start, end


def _filters(
    provider: FilterValues = [],  # noqa: B006 - FastAPI copies the default
    model: FilterValues = [],  # noqa: B006
    project: FilterValues = [],  # noqa: B006
    feature: FilterValues = [],  # noqa: B006
    end_user: FilterValues = [],  # noqa: B006
) -> dict[str, list[str]]:
    """The row filters every usage read takes (``FILTER_PARAMS``), the ones given."""
    given = {"provider": provider, "model": model, "project": project, "feature": feature,
             "end_user": end_user}  # fmt: skip
    return {k: v for k, v in given.items() if v}


UsageFilters = Annotated[dict[str, list[str]], Depends(_filters)]


@router.get(
    "/api/v1/usage/summary",
    response_model=SummaryOut,
    response_model_by_alias=True,
    dependencies=[known_params("from", "to", "group_by", *FILTER_PARAMS)],
)
async def usage_summary(
    *,
    resources: ResourcesDep,
    principal: ReadPrincipal,
    from_: Annotated[InRangeDatetime | None, Query(alias="from")] = None,
    to: Annotated[InRangeDatetime | None, Query()] = None,
    group_by: Annotated[
        list[GroupBy], Query(description="one or two dimensions; with two, keys are lists")
    ] = [],  # noqa: B006 - FastAPI copies the default
    filters: UsageFilters,
) -> dict:
    """Spend and tokens of the caller's org over [from, to) (all data without them), of the
    rows matching every filter given."""
    start, end = window_params(from_, to)
    if len(group_by) > 2 or len(set(group_by)) != len(group_by):
        raise Unprocessable(
            "group_by takes one or two different dimensions",
            details=[{"field": "query.group_by", "message": "one or two different values"}],
        )
    return await service.summary(
        resources, principal.org_id, start=start, end=end,
        group_by=[str(g) for g in group_by] or None,
        filters=filters,
    )  # fmt: skip


@router.get(
    "/api/v1/usage/series",
    response_model=SeriesOut,
    response_model_by_alias=True,
    dependencies=[known_params("from", "to", "interval", "group_by", "top", *FILTER_PARAMS)],
)
async def usage_series(
    *,
    resources: ResourcesDep,
    principal: ReadPrincipal,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
    interval: Annotated[Interval, Query()] = "day",
    group_by: Annotated[Dimension | None, Query()] = None,
    top: Annotated[int, Query(ge=1, le=50)] = 5,
    filters: UsageFilters,
) -> dict:
    """Spend over time, one series per top-``top`` key of ``group_by`` (by spend), the rest
    summed into ``other``; every bucket of [from, to) present, zeros included."""
    start, end = window_params(from_, to)
    return await service.series(
        resources, principal.org_id, start=start, end=end,
        interval=interval, group_by=group_by, top=top,
        filters=filters,
    )  # fmt: skip


@router.get(
    "/api/v1/usage/models",
    response_model=ModelsOut,
    response_model_by_alias=True,
    dependencies=[known_params("from", "to", *FILTER_PARAMS)],
)
async def usage_models(
    *,
    resources: ResourcesDep,
    principal: ReadPrincipal,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
    filters: UsageFilters,
) -> dict:
    """Each (provider, model) seen, its requests and spend, and whether it is priced."""
    start, end = window_params(from_, to)
    return await service.models(
        resources, principal.org_id, start=start, end=end,
        filters=filters,
    )  # fmt: skip


@router.get(
    "/api/v1/usage/reconciliation",
    response_model=ReconciliationOut,
    response_model_by_alias=True,
    dependencies=[known_params("from", "to", "group_by", *FILTER_PARAMS)],
)
async def usage_reconciliation(
    *,
    resources: ResourcesDep,
    principal: ReadPrincipal,
    from_: Annotated[InRangeDatetime | None, Query(alias="from")] = None,
    to: Annotated[InRangeDatetime | None, Query()] = None,
    group_by: Annotated[ReconcileGroupBy, Query()] = "model",
    filters: UsageFilters,
) -> dict:
    """The producer-reported cost beside ours, per model or UTC day, of the rows that carry a
    reported cost, each with a likely cause of the difference (the rule table in
    ``usage/reconciliation.py``)."""
    start, end = window_params(from_, to)
    return await reconciliation.reconciliation(
        resources, principal.org_id, start=start, end=end, group_by=group_by,
        filters=filters,
    )  # fmt: skip
