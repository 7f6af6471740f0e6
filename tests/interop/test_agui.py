"""AG-UI: the golden path as AG-UI 1.0 events, parsed with the ``ag-ui-protocol`` models."""

from __future__ import annotations

import uuid

import httpx
from ag_ui.core import Event
from pydantic import TypeAdapter

from tests.support.interop import Org

EVENT = TypeAdapter(Event)


def run_input(question: str = "How can we cut our AI spend?") -> dict:
    return {
        "threadId": f"t-{uuid.uuid4().hex[:8]}",
        "runId": f"r-{uuid.uuid4().hex[:8]}",
        "messages": [{"id": "m1", "role": "user", "content": question}],
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }


async def read(org: Org, body: dict, last_event_id: str | None = None, stop_after: int = 0):
    """(sse id, parsed event) pairs; with ``stop_after`` the client hangs up after that many."""
    headers = dict(org.user.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    out: list = []
    # Read the SSE fields by hand: an event's own ``id`` line matters here (SSE clients carry
    # the last id forward onto events without one).
    event_id, data = None, []
    async with (
        httpx.AsyncClient(base_url=org.server.url, timeout=120) as client,
        client.stream("POST", "/api/v1/agui", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                out.append((event_id, EVENT.validate_json("\n".join(data))))
                event_id, data = None, []
                if stop_after and len(out) >= stop_after and out[-1][0]:
                    break
    return out


def check_order(events) -> None:
    """What the AG-UI client's verifier enforces: one run, STARTs before their CONTENT/ENDs."""
    types = [e.type.value for e in events]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert types.count("RUN_FINISHED") == 1 and "RUN_ERROR" not in types
    open_text, open_tools, open_steps, open_reasoning = set(), set(), [], set()
    for e in events:
        t = e.type.value
        if t == "TEXT_MESSAGE_START":
            open_text.add(e.message_id)
        elif t in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"):
            assert e.message_id in open_text
            if t == "TEXT_MESSAGE_END":
                open_text.remove(e.message_id)
        elif t == "TOOL_CALL_START":
            open_tools.add(e.tool_call_id)
        elif t in ("TOOL_CALL_ARGS", "TOOL_CALL_END"):
            assert e.tool_call_id in open_tools
            if t == "TOOL_CALL_END":
                open_tools.remove(e.tool_call_id)
        elif t == "STEP_STARTED":
            open_steps.append(e.step_name)
        elif t == "STEP_FINISHED":
            assert e.step_name in open_steps
            open_steps.remove(e.step_name)
        elif t == "REASONING_START":
            open_reasoning.add(e.message_id)
        elif t == "REASONING_END":
            open_reasoning.remove(e.message_id)
    assert not (open_text or open_tools or open_steps or open_reasoning)


async def test_golden_path_is_a_valid_agui_stream(org: Org) -> None:
    body = run_input()
    pairs = await read(org, body)
    events = [e for _, e in pairs]
    check_order(events)
    assert events[0].thread_id == body["threadId"] and events[0].run_id == body["runId"]
    types = {e.type.value for e in events}
    assert {
        "STEP_STARTED",
        "REASONING_MESSAGE_CONTENT",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_CONTENT",
        "STATE_SNAPSHOT",
    } <= types
    snapshot = next(e for e in events if e.type.value == "STATE_SNAPSHOT").snapshot
    text = "".join(e.delta for e in events if e.type.value == "TEXT_MESSAGE_CONTENT")
    assert snapshot["report"]["spend_usd"] > 0 and text
    ids = [int(i) for i, _ in pairs if i]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


async def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(org: Org) -> None:
    body = run_input()
    first = await read(org, body, stop_after=6)
    last_id = [i for i, _ in first if i][-1]
    rest = await read(org, body, last_event_id=last_id)
    whole = await read(org, body)  # the same AG-UI run again: the same analyst run, replayed
    joined = [e.model_dump() for _, e in first + rest]
    assert joined == [e.model_dump() for _, e in whole]
    check_order([e for _, e in first + rest])


async def test_bad_input_is_a_422(org: Org) -> None:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=30) as client:
        no_question = {**run_input(), "messages": []}
        r = await client.post("/api/v1/agui", json=no_question, headers=org.user.headers)
        assert r.status_code == 422 and "user message" in r.text
        r = await client.post("/api/v1/agui", json=run_input(), headers={})
        assert r.status_code == 401


async def test_a_follow_up_in_the_same_thread_continues_the_analyst_thread(org: Org) -> None:
    first = run_input("How can we cut our AI spend?")
    follow = {**run_input("What did we spend on gpt-4o?"), "threadId": first["threadId"]}
    run_ids = []
    for body in (first, follow):
        async with (
            httpx.AsyncClient(base_url=org.server.url, timeout=120) as client,
            client.stream("POST", "/api/v1/agui", json=body, headers=org.user.headers) as r,
        ):
            assert r.status_code == 200
            run_ids.append(r.headers["X-Tokenomist-Run-Id"])
            await r.aread()
    async with httpx.AsyncClient(base_url=org.server.url, timeout=30) as client:
        runs = [
            (await client.get(f"/api/v1/runs/{i}", headers=org.user.headers)).json()
            for i in run_ids
        ]
    assert run_ids[0] != run_ids[1]
    assert runs[0]["thread_id"] == runs[1]["thread_id"]
    assert [r["question"] for r in runs] == [
        "How can we cut our AI spend?",
        "What did we spend on gpt-4o?",
    ]
