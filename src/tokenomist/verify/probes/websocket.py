"""``ws.*``: the WebSocket handshake (subprotocol ``tokenomist.v1`` with ``bearer.<JWT>``), and
the socket plumbing the run probes share: open, receive with a deadline, validate every frame
against the schema the target publishes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jsonschema
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tokenomist.verify.probes.signals import (
    ProbeFailed,
    exception_signals,
    json_object,
    quote_response,
    response_signals,
)
from tokenomist.verify.probes.state import RunState, Session

SUBPROTOCOL = "tokenomist.v1"


def _connect(state: RunState, token: str) -> Any:
    return connect(
        state.config.ws_url,
        subprotocols=[SUBPROTOCOL, f"bearer.{token}"],  # type: ignore[list-item]
        open_timeout=state.config.request_timeout_s,
        max_size=2**22,
    )


async def _validator(state: RunState) -> Any:
    """A compiled validator for the server frames of GET /api/v1/protocol (built once:
    re-checking the schema on every frame costs more than the run itself)."""
    if state.frame_validator is None:
        resp = await state.client.get("/api/v1/protocol")
        body = json_object(resp)
        if resp.status_code != 200 or "server" not in body:
            raise ProbeFailed(
                f"GET /api/v1/protocol → {resp.status_code} without a server frame schema",
                signals=response_signals(resp),
                evidence=[quote_response("GET", "/api/v1/protocol", resp)],
            )
        schema = body["server"]
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        state.frame_validator = cls(schema)
    return state.frame_validator


async def validate_frame(state: RunState, frame: dict[str, Any]) -> None:
    validator = await _validator(state)
    # With an OpenAPI-style discriminator, validate against the frame type's own schema:
    # "'agent' is a required property" beats "not valid under any of the given schemas".
    disc = validator.schema.get("discriminator") or {}
    ref = (disc.get("mapping") or {}).get(frame.get(disc.get("propertyName", "type")))
    if ref:
        validator = validator.evolve(schema={"$ref": ref, "$defs": validator.schema["$defs"]})
    error = jsonschema.exceptions.best_match(validator.iter_errors(frame))
    if error is not None:
        raise ProbeFailed(
            f"frame {frame.get('type')!r} violates the published schema: {error.message}",
            signals=["schema:violation"],
            evidence=[f"frame {json.dumps(frame)[:400]}", f"schema error: {error.message}"],
        )


async def recv(state: RunState, ws: ClientConnection, deadline: float) -> dict[str, Any]:
    """The next frame, validated, before ``deadline`` (``time.monotonic()``)."""
    run_timeout_s = state.config.run_timeout_s
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeFailed(
            f"no terminal event within {run_timeout_s:g}s",
            signals=["timed out waiting for run events"],
        )
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout=left)
    except TimeoutError as exc:
        raise ProbeFailed(f"no event within {run_timeout_s:g}s", signals=["timed out"]) from exc
    except ConnectionClosed as exc:
        sig = exception_signals(exc)
        raise ProbeFailed(
            f"socket closed mid-run: {sig[-1]}", signals=sig, evidence=[sig[-1]]
        ) from exc
    frame = json.loads(raw)
    await validate_frame(state, frame)
    return frame


async def open_socket(
    state: RunState, session: Session
) -> tuple[Any, ClientConnection, dict[str, Any]]:
    """(context manager to ``__aexit__``, socket, first frame): the caller closes it."""
    assert session.access_token is not None
    cm = _connect(state, session.access_token)
    try:
        ws = await cm.__aenter__()
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        sig = exception_signals(exc)
        raise ProbeFailed(
            f"WebSocket handshake with a valid token failed: {type(exc).__name__}: {exc}",
            signals=sig,
            evidence=[f"connect {state.config.ws_url}: {type(exc).__name__}: {exc}"],
        ) from exc
    try:
        hello = await recv(state, ws, time.monotonic() + state.config.request_timeout_s)
    except BaseException:
        await cm.__aexit__(None, None, None)
        raise
    return cm, ws, hello


def raise_on_error_frame(frame: dict[str, Any], during: str = "user_message") -> None:
    if frame.get("type") != "error":
        return
    data = frame.get("data") or {}
    raise ProbeFailed(
        f"{during} answered error {data.get('code')}: {data.get('message')}",
        signals=[str(data.get("code")), str(data.get("message"))],
        evidence=[json.dumps(frame)[:400]],
    )


async def probe_ws_accept(state: RunState) -> str:
    cm, ws, hello = await open_socket(state, state.users[0])
    try:
        if ws.subprotocol != SUBPROTOCOL:
            raise ProbeFailed(
                f"server selected subprotocol {ws.subprotocol!r}, expected {SUBPROTOCOL}",
                evidence=[f"Sec-WebSocket-Protocol: {ws.subprotocol}"],
            )
        if hello.get("type") != "connection_established":
            raise ProbeFailed(
                f"first frame {hello.get('type')!r}, expected connection_established",
                evidence=[json.dumps(hello)[:400]],
            )
    finally:
        await cm.__aexit__(None, None, None)
    return f"accepted, {SUBPROTOCOL}, connection {hello['data'].get('connection_id')}"


async def probe_ws_refuse(state: RunState) -> str:
    try:
        async with _connect(state, "invalid." + uuid.uuid4().hex):
            pass
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            return f"refused in the handshake with {status}"
        raise ProbeFailed(
            f"invalid token refused with {status}, expected 401/403",
            signals=exception_signals(exc),
            evidence=[f"handshake → {status} {exc.response.body[:200]!r}"],
        ) from exc
    raise ProbeFailed(
        "a WebSocket with an invalid token was ACCEPTED (auth fails open)",
        evidence=[f"connect {state.config.ws_url} with bearer.invalid… → accepted"],
    )
