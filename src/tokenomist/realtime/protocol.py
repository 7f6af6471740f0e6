"""The ``tokenomist.v1`` WebSocket protocol (DESIGN §5): the single definition of every frame.

Client frames are parsed here; server frames are built here. The same models produce the JSON
Schema published at ``GET /api/v1/protocol``, so the schema can never drift from the code.
Payload models allow extra keys (a newer server may add fields) but require every field the
contract names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from tokenomist.kit.hygiene import CleanInput

SUBPROTOCOL = "tokenomist.v1"
PROTOCOL_VERSION = "1"
BEARER_PREFIX = "bearer."  # Sec-WebSocket-Protocol entry carrying the access JWT
MAX_FRAME_BYTES = 64 * 1024
CLOSE_TOKEN_EXPIRED = 4401  # the access token expired on an open connection
CLOSE_IDLE = 4408  # no client frame and nothing followed for the idle timeout
CLOSE_TOO_MANY_CONNECTIONS = 1008  # policy: the user already holds the cap of open sockets
CLOSE_SERVICE_RESTART = 1012  # the instance is draining: reconnect (to another) and resume


class EventType(StrEnum):
    connection_established = "connection_established"
    run_started = "run_started"
    agent_started = "agent_started"
    agent_thinking = "agent_thinking"
    tool_executing = "tool_executing"
    tool_completed = "tool_completed"
    agent_completed = "agent_completed"
    agent_error = "agent_error"
    assistant_message = "assistant_message"
    run_completed = "run_completed"
    run_failed = "run_failed"
    error = "error"
    pong = "pong"
    alert = "alert"  # org-wide: an alert event was created (realtime/notify.py)


RUN_EVENT_TYPES = frozenset(
    {
        EventType.run_started,
        EventType.agent_started,
        EventType.agent_thinking,
        EventType.tool_executing,
        EventType.tool_completed,
        EventType.agent_completed,
        EventType.agent_error,
        EventType.assistant_message,
        EventType.run_completed,
        EventType.run_failed,
    }
)
TERMINAL_TYPES = frozenset({EventType.run_completed, EventType.run_failed})


class ErrorCode(StrEnum):
    """Codes of ``error`` frames. None of them closes the connection, but for ``rate_limited``
    sent on connect to a user holding too many sockets (then closed 1008)."""

    invalid_json = "invalid_json"  # the frame is not a JSON object
    unknown_type = "unknown_type"  # ``type`` missing or not a client frame type
    invalid_frame = "invalid_frame"  # a field is missing or has the wrong type
    frame_too_large = "frame_too_large"  # above MAX_FRAME_BYTES
    binary_not_supported = "binary_not_supported"  # frames are JSON text
    rate_limited = "rate_limited"  # message rate, concurrent runs or open sockets per user
    not_found = "not_found"  # no such run for this user
    stream_unavailable = "stream_unavailable"  # the event store could not be read
    events_expired = "events_expired"  # asked for events older than the bounded store keeps
    draining = "draining"  # the instance is shutting down: reconnect (elsewhere) and ask again
    internal_error = "internal_error"


def events_expired_message(run_id: str) -> str:
    """The ``events_expired`` error's message, on the WebSocket and the SSE stream alike."""
    return f"events of run {run_id} are no longer kept; GET /api/v1/runs/{run_id} has its result"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# --- client → server -----------------------------------------------------------------------


class _ClientFrame(CleanInput):
    # CleanInput: frame strings reach SQL (thread and run lookups, stored messages).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class UserMessage(_ClientFrame):
    type: Literal["user_message"]
    content: str = Field(min_length=1)
    thread_id: str | None = None
    client_message_id: str | None = None


class Resume(_ClientFrame):
    type: Literal["resume"]
    run_id: str = Field(min_length=1)
    after_seq: int = Field(ge=0)


class Cancel(_ClientFrame):
    type: Literal["cancel"]
    run_id: str = Field(min_length=1)


class Ping(_ClientFrame):
    type: Literal["ping"]


ClientFrame = Annotated[UserMessage | Resume | Cancel | Ping, Field(discriminator="type")]
CLIENT_FRAME_TYPES = ("user_message", "resume", "cancel", "ping")
_client_adapter: TypeAdapter[UserMessage | Resume | Cancel | Ping] = TypeAdapter(ClientFrame)


class ProtocolError(Exception):
    """A bad client frame; answered with an ``error`` frame, the connection stays open."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(raw: str | bytes) -> UserMessage | Resume | Cancel | Ping:
    """Parse one client frame or raise ``ProtocolError`` naming what is wrong and where."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(
            ErrorCode.frame_too_large, f"frame is {size} bytes; the limit is {MAX_FRAME_BYTES}"
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.invalid_json, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.invalid_json, f"frame must be a JSON object, got {type(obj).__name__}"
        )
    kind = obj.get("type")
    if kind not in CLIENT_FRAME_TYPES:
        shown = "missing" if kind is None else repr(kind)
        raise ProtocolError(
            ErrorCode.unknown_type,
            f"frame type {shown} is not one of {', '.join(CLIENT_FRAME_TYPES)}",
        )
    try:
        return _client_adapter.validate_python(obj)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'frame'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ProtocolError(ErrorCode.invalid_frame, f"{kind}: {problems}") from None


# --- server → client -----------------------------------------------------------------------


class ServerEvent(BaseModel):
    """What the bus stores and every server frame on the wire (``type, run_id?, seq?, ts, data``).

    ``seq`` is per run, starting at 1, gap-free; frames that belong to no run carry neither
    ``run_id`` nor ``seq``.
    """

    type: str
    run_id: str | None = None
    seq: int | None = None
    ts: str
    data: dict[str, Any] = Field(default_factory=dict)

    def to_wire(self) -> str:
        out: dict[str, Any] = {"type": self.type}
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.seq is not None:
            out["seq"] = self.seq
        out["ts"] = self.ts
        out["data"] = self.data
        return orjson.dumps(out).decode()

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


def server_frame(type: EventType | str, data: dict[str, Any] | None = None) -> ServerEvent:
    """A frame outside any run (connection_established, error, pong)."""
    return ServerEvent(type=str(type), ts=utc_now_iso(), data=data or {})


def error_frame(code: ErrorCode | str, message: str, **extra: Any) -> ServerEvent:
    data = {"code": str(code), "message": message}
    data.update({k: v for k, v in extra.items() if v is not None})
    return server_frame(EventType.error, data)


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")


class ConnectionEstablishedData(_Data):
    user_id: str
    connection_id: str
    protocol_version: str
    server_time: str
    # Which instance holds the socket (behind a load balancer: where a resume landed).
    instance_id: str | None = None


class RunStartedData(_Data):
    thread_id: str
    message_id: str


class AgentStartedData(_Data):
    agent: str


class AgentThinkingData(_Data):
    agent: str
    text: str


class ToolExecutingData(_Data):
    agent: str
    tool: str
    call_id: str
    args: dict[str, Any]


class ToolCompletedData(_Data):
    agent: str
    tool: str
    call_id: str
    status: str
    duration_ms: float
    summary: str


class AgentCompletedData(_Data):
    agent: str
    status: str
    duration_ms: float
    summary: str


class AgentErrorData(_Data):
    agent: str
    code: str
    message: str


class AssistantMessageData(_Data):
    message_id: str
    content: str
    report: dict[str, Any]


class RunCompletedData(_Data):
    status: str
    duration_ms: float


class RunFailedData(_Data):
    code: str
    message: str


class ErrorData(_Data):
    code: str
    message: str


class PongData(_Data):
    pass


class AlertData(_Data):
    """The alert event as webhooks get it (``GET /api/v1/alerts`` lists it with deliveries)."""

    id: str
    type: str = Field(description="budget.threshold | budget.forecast | anomaly.spend")
    org_id: str
    created_at: str = Field(description="ISO-8601 UTC")
    data: dict[str, Any]


DATA_MODELS: dict[EventType, type[_Data]] = {
    EventType.connection_established: ConnectionEstablishedData,
    EventType.run_started: RunStartedData,
    EventType.agent_started: AgentStartedData,
    EventType.agent_thinking: AgentThinkingData,
    EventType.tool_executing: ToolExecutingData,
    EventType.tool_completed: ToolCompletedData,
    EventType.agent_completed: AgentCompletedData,
    EventType.agent_error: AgentErrorData,
    EventType.assistant_message: AssistantMessageData,
    EventType.run_completed: RunCompletedData,
    EventType.run_failed: RunFailedData,
    EventType.error: ErrorData,
    EventType.pong: PongData,
    EventType.alert: AlertData,
}


def _frame_model(kind: EventType, data_model: type[_Data]) -> type[BaseModel]:
    in_run = kind in RUN_EVENT_TYPES
    fields: dict[str, Any] = {
        "type": (Literal[kind.value], ...),
        "ts": (str, Field(..., description="ISO-8601 UTC")),
        "data": (data_model, ...),
    }
    if in_run:
        fields["run_id"] = (str, ...)
        fields["seq"] = (int, Field(..., ge=1, description="per run, from 1, gap-free"))
    name = "".join(part.title() for part in kind.value.split("_")) + "Frame"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


SERVER_FRAME_MODELS: dict[EventType, type[BaseModel]] = {
    kind: _frame_model(kind, model) for kind, model in DATA_MODELS.items()
}
# Built from the table above so a new frame type cannot be left out of the schema.
_server_union: Any = Annotated[
    Union[tuple(SERVER_FRAME_MODELS.values())],  # noqa: UP007 - a union built at runtime
    Field(discriminator="type"),
]
_server_adapter: TypeAdapter[Any] = TypeAdapter(_server_union)


def validate_server_frame(frame: dict[str, Any]) -> BaseModel:
    """Validate a decoded server frame against its typed model (raises ``ValidationError``)."""
    return _server_adapter.validate_python(frame)


def validate_event_data(type: EventType | str, data: dict[str, Any]) -> None:
    """Check a payload before it is published (raises ``ValidationError``, ``ValueError``)."""
    try:
        kind = EventType(type)
    except ValueError:
        raise ValueError(f"unknown event type {type!r}") from None
    DATA_MODELS[kind].model_validate(data)


def protocol_schema() -> dict[str, Any]:
    """The document served at ``GET /api/v1/protocol``."""
    return {
        "protocol": SUBPROTOCOL,
        "protocol_version": PROTOCOL_VERSION,
        "endpoint": "/ws",
        "auth": {
            "subprotocol_entry": BEARER_PREFIX + "<access JWT>",
            "header": "Authorization: Bearer <access JWT>",
            "query_string": "refused",
        },
        "limits": {"max_frame_bytes": MAX_FRAME_BYTES},
        "close_codes": {
            str(CLOSE_TOKEN_EXPIRED): "access token expired",
            str(CLOSE_IDLE): "idle timeout",
            str(CLOSE_SERVICE_RESTART): "the instance is shutting down: reconnect and resume "
            "each followed run after the last seq received",
            str(CLOSE_TOO_MANY_CONNECTIONS): "too many open connections for this user (after "
            "an error frame with code rate_limited)",
        },
        "error_codes": [c.value for c in ErrorCode],
        "event_types": [t.value for t in EventType],
        "terminal_event_types": sorted(t.value for t in TERMINAL_TYPES),
        "client": _client_adapter.json_schema(),
        "server": _server_adapter.json_schema(),
    }
