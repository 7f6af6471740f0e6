"""Analyst HTTP API (DESIGN §4): start a run, read it, follow its events over SSE
(resumable with ``Last-Event-ID`` = ``seq``), cancel it; list threads and their messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Response, status
from fastapi.responses import StreamingResponse

from tokenomist.analyst import service
from tokenomist.analyst.context import RunStatus
from tokenomist.analyst.schemas import MessageOut, RunAccepted, RunCreate, RunOut, ThreadOut
from tokenomist.analyst.tools import TOOLS
from tokenomist.auth.dependencies import CurrentUser
from tokenomist.kit.errors import Unprocessable
from tokenomist.kit.hygiene import INT64_MAX
from tokenomist.kit.resources import ResourcesDep
from tokenomist.realtime.protocol import ErrorCode, events_expired_message

router = APIRouter(prefix="/api/v1", tags=["analyst"])
KEEPALIVE_S = 15.0
FINISHING_WAIT_S = 5.0


def _expired(run_id: str) -> dict:
    return {"code": ErrorCode.events_expired.value, "message": events_expired_message(run_id)}


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED, response_model=RunAccepted)
async def create_run(
    body: RunCreate, resources: ResourcesDep, principal: CurrentUser
) -> RunAccepted:
    handle = await service.start_run(resources, principal, body.message, body.thread_id)
    return RunAccepted(
        run_id=handle.run_id,
        thread_id=handle.thread_id,
        message_id=handle.message_id,
        status=RunStatus.queued,
        events_url=f"/api/v1/runs/{handle.run_id}/events",
    )


@router.get("/runs/{run_id}", response_model=RunOut)
async def read_run(run_id: str, resources: ResourcesDep, principal: CurrentUser) -> RunOut:
    return await service.get_run(resources, principal, run_id)


@router.post("/runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: str, resources: ResourcesDep, principal: CurrentUser) -> dict:
    await service.cancel_run(resources, principal, run_id)
    return {"run_id": run_id, "cancel_requested": True}


def _sse(event_id: int | None, kind: str, payload: dict) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"


def _after_seq(last_event_id: str | None) -> int:
    if last_event_id is None or last_event_id.strip() == "":
        return 0
    try:
        value = int(last_event_id)
    except ValueError:
        value = -1
    if not 0 <= value <= INT64_MAX:  # past 64 bits no event store takes it (Redis stream ids)
        raise Unprocessable(
            "Last-Event-ID must be the seq (a non-negative 64-bit integer) of the last event "
            "received",
            details=[{"field": "Last-Event-ID", "message": f"got {last_event_id!r}"}],
        )
    return value


async def _ends_at(bus: Any, run_id: str, seq: int) -> bool:
    """Whether ``seq`` is the run's stored terminal event."""
    from tokenomist.realtime.bus import BusError

    if seq < 1:
        return False
    try:
        events = await bus.replay(run_id, seq - 1)
    except BusError:
        return False
    return bool(events) and events[0].seq == seq and events[0].is_terminal


@router.get("/runs/{run_id}/events", response_model=None)
async def run_events(
    run_id: str,
    resources: ResourcesDep,
    principal: CurrentUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse | Response:
    """The run's events as Server-Sent Events: ``id`` = seq, ``event`` = type, ``data`` = the
    whole frame ``{type, run_id, seq, ts, data}``. Ends after ``run_completed``/``run_failed``.
    A reconnecting client sends ``Last-Event-ID`` and gets exactly what it missed; one that
    already has the terminal event gets 204 (an EventSource stops reconnecting on 204)."""
    after = _after_seq(last_event_id)
    run = await service.get_run(resources, principal, run_id)  # 404 unless the caller's run
    bus = resources.require_bus()
    if run.status.terminal and await _ends_at(bus, run_id, after):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return StreamingResponse(
        _stream(bus, run_id, after, finished=run.status.terminal),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(bus: Any, run_id: str, after: int, *, finished: bool) -> AsyncIterator[bytes]:
    from tokenomist.realtime.bus import BusError

    if finished:
        try:
            stored = await bus.replay(run_id, after)
        except BusError as exc:
            yield _sse(None, "error", {"code": exc.code, "message": str(exc)})
            return
        if stored and stored[-1].is_terminal:
            for event in stored:
                yield _sse(event.seq, event.type, event.model_dump(mode="json", exclude_none=True))
            return
        # Finished in SQL but the terminal event is not stored: either it is being published
        # this instant (the run records its outcome first), or the events are gone.
        quiet_limit: float | None = FINISHING_WAIT_S
    else:
        quiet_limit = None

    # A reader task feeds a queue so keep-alive comments can be sent while the run is quiet
    # (cancelling an async generator's __anext__ on a timeout would break the generator).
    queue: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        try:
            async for event in bus.stream(run_id, after):
                await queue.put(event)
            await queue.put(None)
        except BusError as exc:
            await queue.put(exc)

    reader = asyncio.create_task(read(), name=f"sse-{run_id}")
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=quiet_limit or KEEPALIVE_S)
            except TimeoutError:
                if quiet_limit is not None:
                    yield _sse(None, "error", _expired(run_id))
                    return
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                code = getattr(item, "code", "stream_unavailable")
                yield _sse(None, "error", {"code": code, "message": str(item)})
                return
            yield _sse(item.seq, item.type, item.model_dump(mode="json", exclude_none=True))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


@router.get("/threads", response_model=list[ThreadOut])
async def threads(resources: ResourcesDep, principal: CurrentUser) -> list[ThreadOut]:
    return await service.list_threads(resources, principal)


@router.get("/threads/{thread_id}/messages", response_model=list[MessageOut])
async def thread_messages(
    thread_id: str, resources: ResourcesDep, principal: CurrentUser
) -> list[MessageOut]:
    return await service.list_messages(resources, principal, thread_id)


@router.get("/analyst/tools")
async def tools(principal: CurrentUser) -> list[dict]:
    """The analyst's tools with their JSON schemas (the same ones an MCP server exposes)."""
    return [t.schema() for t in TOOLS.values()]
