"""Usage HTTP API: ingest (records, file import, OTLP traces) and the spend summary.

Bodies are read as a stream and refused with 413 as soon as they pass
``settings.max_body_bytes``. File import takes the file either as the raw request body (any
content type; what the CLI sends, chunk by chunk) or as ``multipart/form-data`` with one
field named ``file`` (what a browser form sends).
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tokenomist.auth.dependencies import Principal, require_scope
from tokenomist.kit.errors import PayloadTooLarge, Unprocessable
from tokenomist.kit.hygiene import InRangeDatetime
from tokenomist.usage import formats, service
from tokenomist.usage.formats import ImportOptions, otlp
from tokenomist.usage.schemas import GroupBy, IngestReportOut, SummaryOut

router = APIRouter(tags=["usage"])
IngestPrincipal = Annotated[Principal, Depends(require_scope("ingest"))]
ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]


async def read_body(request: Request) -> bytes:
    limit = request.app.state.resources.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        service.check_size(request.app.state.resources, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            service.check_size(request.app.state.resources, size)
        chunks.append(chunk)
    data = b"".join(chunks)
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


@router.post("/api/v1/usage", response_model=IngestReportOut)
async def ingest_usage(request: Request, principal: IngestPrincipal) -> dict:
    """Canonical records as a JSON array or NDJSON. Valid rows land even if others fail."""
    data = await read_body(request)
    resources = request.app.state.resources
    report = await service.import_bytes(
        resources, principal.org_id, data, format="canonical", source="api"
    )
    return report.as_dict()


@router.post("/api/v1/usage/import", response_model=IngestReportOut)
async def import_usage(
    request: Request,
    principal: IngestPrincipal,
    format: Annotated[
        str | None, Query(description="format name; omitted or 'auto' detects it")
    ] = None,
    provider: Annotated[str | None, Query(description="azure-trace: provider")] = None,
    model: Annotated[str | None, Query(description="azure-trace: model")] = None,
    project: Annotated[str | None, Query(description="azure-trace: project tag")] = None,
) -> dict:
    """A usage file in any known format (see ``GET /api/v1/usage/formats``)."""
    resources = request.app.state.resources
    if format is not None:
        formats.resolve(format, b"")  # an unknown name is a 422 before the upload is read
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        data = await _multipart_file(request)
    else:
        data = await read_body(request)
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
    resources = request.app.state.resources
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        service.check_size(resources, int(declared))
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Unprocessable(
            "multipart upload needs one file field named 'file'",
            code="validation_error",
            details=[{"field": "file", "message": "missing"}],
        )
    service.check_size(resources, upload.size or 0)
    return await upload.read()


@router.get("/api/v1/usage/formats")
async def list_formats(principal: ReadPrincipal) -> dict:
    return {"formats": [{"name": k, "description": v} for k, v in formats.known().items()]}


@router.post("/v1/traces")
async def otlp_traces(request: Request, principal: IngestPrincipal) -> Response:
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
    data = await read_body(request)
    resources = request.app.state.resources
    try:
        parsed = otlp.parse(data, protobuf=protobuf)
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


@router.get("/api/v1/usage/summary", response_model=SummaryOut, response_model_by_alias=True)
async def usage_summary(
    request: Request,
    principal: ReadPrincipal,
    from_: Annotated[InRangeDatetime | None, Query(alias="from")] = None,
    to: Annotated[InRangeDatetime | None, Query()] = None,
    group_by: Annotated[GroupBy | None, Query()] = None,
) -> dict:
    """Spend and tokens of the caller's org over [from, to) (all data without them)."""
    start = _utc(from_, "from")
    end = _utc(to, "to")
    if start is not None and end is not None and start >= end:
        raise Unprocessable(
            "'from' must be before 'to'",
            details=[{"field": "from", "message": "must be before 'to'"}],
        )
    return await service.summary(
        request.app.state.resources, principal.org_id, start=start, end=end, group_by=group_by
    )


def _utc(value: datetime | None, name: str) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
