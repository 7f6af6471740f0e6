"""AG-UI 1.0: a run's events (DESIGN §5) as AG-UI events, built with the ``ag-ui-protocol``
models and written with its encoder.

Each of our events maps to a fixed group of AG-UI events; the group's last event carries our
``seq`` as its SSE ``id``, so a client resuming with ``Last-Event-ID`` gets every group after
the last one it finished, with no gap and no duplicate.

| ours | AG-UI |
|---|---|
| run_started | RUN_STARTED (the caller's threadId/runId) |
| agent_started / agent_completed | STEP_STARTED / STEP_FINISHED (stepName = agent) |
| agent_thinking | REASONING_START, REASONING_MESSAGE_START/CONTENT/END, REASONING_END |
| tool_executing | TOOL_CALL_START, TOOL_CALL_ARGS (the JSON arguments) |
| tool_completed | TOOL_CALL_END, TOOL_CALL_RESULT (the tool's summary) |
| agent_error | CUSTOM name=agent_error |
| assistant_message | TEXT_MESSAGE_START/CONTENT/END, STATE_SNAPSHOT {report} |
| run_completed / run_failed | RUN_FINISHED / RUN_ERROR |
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ag_ui.core import RunAgentInput
from ag_ui.core import events as ev
from ag_ui.encoder import EventEncoder

from tokenomist.kit.errors import Unprocessable
from tokenomist.kit.hygiene import CleanInput

PROTOCOL = "1.0"
_encoder = EventEncoder()


class CleanRunAgentInput(RunAgentInput, CleanInput):
    """AG-UI's RunAgentInput, held to the same hygiene as every other body: the thread id and
    the question reach the SQL tier (threads, messages)."""


def question_of(body: RunAgentInput) -> str:
    """The last user message's text: what the analyst is asked."""
    for message in reversed(body.messages):
        if getattr(message, "role", None) != "user":
            continue
        content = message.content
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):  # multimodal parts: the text ones
            text = " ".join(getattr(p, "text", "") for p in content if getattr(p, "text", None))
        else:
            text = ""
        if text.strip():
            return text
    raise Unprocessable(
        "the run needs a user message with text (the question for the analyst)",
        details=[{"field": "messages", "message": "no user message with text"}],
    )


def _reasoning(seq: int, data: dict) -> Iterator[ev.BaseEvent]:
    mid = f"reasoning-{seq}"
    yield ev.ReasoningStartEvent(message_id=mid)
    yield ev.ReasoningMessageStartEvent(message_id=mid, role="reasoning")
    yield ev.ReasoningMessageContentEvent(message_id=mid, delta=data["text"] or " ")
    yield ev.ReasoningMessageEndEvent(message_id=mid)
    yield ev.ReasoningEndEvent(message_id=mid)


def _answer(data: dict) -> Iterator[ev.BaseEvent]:
    mid = data["message_id"]
    yield ev.TextMessageStartEvent(message_id=mid, role="assistant")
    if data["content"]:  # AG-UI forbids an empty delta
        yield ev.TextMessageContentEvent(message_id=mid, delta=data["content"])
    yield ev.TextMessageEndEvent(message_id=mid)
    yield ev.StateSnapshotEvent(snapshot={"report": data["report"]})


def translate(
    type: str, seq: int, data: dict[str, Any], thread_id: str, run_id: str
) -> list[ev.BaseEvent]:
    """The AG-UI events for one of ours (empty for types AG-UI has no use for)."""
    if type == "run_started":
        return [ev.RunStartedEvent(thread_id=thread_id, run_id=run_id, protocol_version=PROTOCOL)]
    if type == "agent_started":
        return [ev.StepStartedEvent(step_name=data["agent"])]
    if type == "agent_completed":
        return [ev.StepFinishedEvent(step_name=data["agent"])]
    if type == "agent_thinking":
        return list(_reasoning(seq, data))
    if type == "tool_executing":
        call = data["call_id"]
        return [
            ev.ToolCallStartEvent(tool_call_id=call, tool_call_name=data["tool"]),
            ev.ToolCallArgsEvent(tool_call_id=call, delta=json.dumps(data["args"]) or "{}"),
        ]
    if type == "tool_completed":
        call = data["call_id"]
        return [
            ev.ToolCallEndEvent(tool_call_id=call),
            ev.ToolCallResultEvent(
                message_id=f"tool-{call}",
                tool_call_id=call,
                role="tool",
                content=json.dumps({"status": data["status"], "summary": data["summary"]}),
            ),
        ]
    if type == "agent_error":
        return [ev.CustomEvent(name="agent_error", value=data)]
    if type == "assistant_message":
        return list(_answer(data))
    if type == "run_completed":
        return [ev.RunFinishedEvent(thread_id=thread_id, run_id=run_id)]
    if type == "run_failed":
        return [ev.RunErrorEvent(message=data["message"], code=data["code"])]
    return []


def encode(group: list[ev.BaseEvent], seq: int) -> bytes:
    """One group as SSE; ``id: seq`` on its last event only (see the module docstring)."""
    parts = [_encoder.encode(e) for e in group]
    if parts:
        parts[-1] = f"id: {seq}\n" + parts[-1]
    return "".join(parts).encode()


def error_event(code: str, message: str) -> bytes:
    return _encoder.encode(ev.RunErrorEvent(message=message, code=code)).encode()


CONTENT_TYPE = _encoder.get_content_type()
