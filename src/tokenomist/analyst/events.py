"""The run's events (DESIGN §1 step 4, §5): the sinks that carry them and one helper per
event, so every payload has the contract's shape in exactly one place. Event type names come
from ``realtime.protocol`` (the single definition of the wire protocol)."""

from __future__ import annotations

from typing import Any

from tokenomist.realtime.protocol import EventType


class BusSink:
    """Publishes a run's events to the event bus, which numbers them (``seq``) and keeps them
    for replay by any reader on any instance."""

    def __init__(self, bus: Any, run_id: str) -> None:
        self._bus = bus
        self._run_id = run_id

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        await self._bus.publish(self._run_id, type, data)


class ListSink:
    """Keeps events in memory: for the benchmark and for in-process callers."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        self.events.append((type, data))

    @property
    def types(self) -> list[str]:
        return [t for t, _ in self.events]


def run_started(thread_id: str, message_id: str) -> tuple[str, dict]:
    return EventType.run_started, {"thread_id": thread_id, "message_id": message_id}


def agent_started(agent: str) -> tuple[str, dict]:
    return EventType.agent_started, {"agent": agent}


def agent_thinking(agent: str, text: str) -> tuple[str, dict]:
    return EventType.agent_thinking, {"agent": agent, "text": text}


def tool_executing(agent: str, tool: str, call_id: str, args: dict) -> tuple[str, dict]:
    data = {"agent": agent, "tool": tool, "call_id": call_id, "args": args}
    return EventType.tool_executing, data


def tool_completed(
    agent: str, tool: str, call_id: str, status: str, duration_ms: float, summary: str
) -> tuple[str, dict]:
    return EventType.tool_completed, {
        "agent": agent,
        "tool": tool,
        "call_id": call_id,
        "status": status,
        "duration_ms": round(duration_ms, 2),
        "summary": summary,
    }


def agent_completed(agent: str, status: str, duration_ms: float, summary: str) -> tuple[str, dict]:
    return EventType.agent_completed, {
        "agent": agent,
        "status": status,
        "duration_ms": round(duration_ms, 2),
        "summary": summary,
    }


def agent_error(agent: str, code: str, message: str) -> tuple[str, dict]:
    return EventType.agent_error, {"agent": agent, "code": code, "message": message}


def assistant_message(message_id: str, content: str, report: dict) -> tuple[str, dict]:
    return EventType.assistant_message, {
        "message_id": message_id,
        "content": content,
        "report": report,
    }


def run_completed(status: str, duration_ms: float) -> tuple[str, dict]:
    return EventType.run_completed, {"status": status, "duration_ms": round(duration_ms, 2)}


def run_failed(code: str, message: str) -> tuple[str, dict]:
    return EventType.run_failed, {"code": code, "message": message}
