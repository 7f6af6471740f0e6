"""Interop HTTP: ``/mcp`` (MCP streamable HTTP), ``POST /api/v1/agui`` (AG-UI 1.0 over SSE)
and ``GET /api/v1/exports/focus`` (FOCUS 1.2 Cost and Usage, CSV or Parquet)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ag_ui.core import RunAgentInput
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from starlette.routing import Route

from tokenomist.analyst import service as analyst_service
from tokenomist.auth.dependencies import CurrentUser, Principal, require_scope
from tokenomist.interop import agui, focus
from tokenomist.interop.agui import CleanRunAgentInput
from tokenomist.interop.mcp import McpEndpoint
from tokenomist.kit.errors import NotFound, Unprocessable
from tokenomist.kit.hygiene import INT64_MAX, InRangeDatetime
from tokenomist.kit.resources import Resources, ResourcesDep

router = APIRouter(tags=["interop"])
router.routes.append(
    Route("/mcp", McpEndpoint(), methods=["GET", "POST", "DELETE"], include_in_schema=False)
)
ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]
RUN_MAP_TTL_S = 86_400
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _after_seq(last_event_id: str | None) -> int:
    if last_event_id is None or not last_event_id.strip():
        return 0
    value = last_event_id.strip()
    if not value.isdigit() or int(value) > INT64_MAX:
        raise Unprocessable(
            "Last-Event-ID must be the id (a non-negative integer) of the last event received",
            details=[{"field": "Last-Event-ID", "message": f"got {last_event_id!r}"}],
        )
    return int(value)


def _key(kind: str, principal: Principal, agui_id: str) -> str:
    return f"interop:agui:{kind}:{principal.user_id}:{agui_id}"


async def _our_run(resources: Resources, principal: Principal, body: RunAgentInput) -> str:
    """The analyst run behind this AG-UI run: the one already started for this runId (a
    reconnect, resumed from Last-Event-ID), else a new one in the analyst thread this AG-UI
    threadId maps to (so a follow-up question continues the conversation)."""
    run_key = _key("run", principal, body.run_id)
    existing = await resources.cache.get(run_key)
    if existing is not None:
        return existing
    question = agui.question_of(body)
    thread_key = _key("thread", principal, body.thread_id)
    thread_id = await resources.cache.get(thread_key)
    try:
        handle = await analyst_service.start_run(resources, principal, question, thread_id)
    except NotFound:
        if thread_id is None:
            raise
        # The mapped thread is gone (deleted, or another database): start a new one.
        handle = await analyst_service.start_run(resources, principal, question)
    await resources.cache.set(run_key, handle.run_id, ttl_s=RUN_MAP_TTL_S)
    await resources.cache.set(thread_key, handle.thread_id, ttl_s=RUN_MAP_TTL_S)
    return handle.run_id


@router.post("/api/v1/agui", response_model=None)
async def agui_run(
    body: CleanRunAgentInput,
    resources: ResourcesDep,
    principal: CurrentUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Run the analyst for an AG-UI client; the response is the run as AG-UI events (SSE)."""
    after = _after_seq(last_event_id)
    bus = resources.require_bus()
    run_id = await _our_run(resources, principal, body)
    return StreamingResponse(
        _agui_stream(bus, run_id, after, body.thread_id, body.run_id),
        media_type=agui.CONTENT_TYPE,
        headers={**_SSE_HEADERS, "X-Tokenomist-Run-Id": run_id},
    )


async def _agui_stream(
    bus: Any, run_id: str, after: int, thread_id: str, agui_run_id: str
) -> AsyncIterator[bytes]:
    from tokenomist.realtime.bus import BusError

    try:
        async for event in bus.stream(run_id, after):
            group = agui.translate(event.type, event.seq, event.data, thread_id, agui_run_id)
            if group:
                yield agui.encode(group, event.seq)
    except BusError as exc:
        yield agui.error_event(getattr(exc, "code", "stream_unavailable"), str(exc))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/api/v1/exports/focus", response_model=None)
async def focus_export(
    resources: ResourcesDep,
    principal: ReadPrincipal,
    from_: Annotated[InRangeDatetime, Query(alias="from", description="range start (UTC)")],
    to: Annotated[InRangeDatetime, Query(description="range end, exclusive (UTC)")],
    format: Annotated[Literal["csv", "parquet"], Query()] = "csv",
) -> StreamingResponse:
    """FOCUS 1.2 Cost and Usage rows of the org's LLM usage over [from, to). Unpriced calls are
    not in the rows (FOCUS has no null cost); their count is in X-Tokenomist-Unpriced-Requests."""
    start, end = _utc(from_), _utc(to)
    if start >= end:
        raise Unprocessable(
            "'from' must be before 'to'",
            details=[{"field": "from", "message": "must be before 'to'"}],
        )
    export = await focus.prepare(
        resources.org_usage(principal.org_id), resources.require_pricer(), start, end
    )
    stream, media_type = focus.STREAMS[format]
    name = f"focus-{start:%Y%m%d}-{end:%Y%m%d}.{format}"
    return StreamingResponse(
        stream(export),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Tokenomist-Unpriced-Requests": str(export.unpriced_requests),
            "X-Focus-Version": focus.FOCUS_VERSION,
        },
    )
