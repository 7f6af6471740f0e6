"""Runs over real HTTP: the event order of DESIGN §1 step 4 read from the SSE endpoint,
resume with Last-Event-ID, persistence of runs/threads/messages on both SQL backends."""

from __future__ import annotations

import httpx

from tests.support.analyst import (
    agents_of,
    ask,
    demo_workload,
    get_run,
    load,
    read_events,
    register,
    start_run,
)

QUESTION = "How can we cut our AI spend?"
AGENTS = ["triage", "data", "optimization", "actions", "reporting"]


def assert_golden_order(frames: list[dict]) -> None:
    types = [f["type"] for f in frames]
    assert types[0] == "run_started", types
    assert types[-2:] == ["assistant_message", "run_completed"], types
    i, body = 0, frames[1:-2]
    while i < len(body):
        assert body[i]["type"] == "agent_started", (i, types)
        agent = body[i]["data"]["agent"]
        i += 1
        assert body[i]["type"] == "agent_thinking", (i, types)
        while body[i]["type"] == "agent_thinking":
            assert body[i]["data"]["agent"] == agent
            i += 1
        while body[i]["type"] == "tool_executing":
            call, done = body[i], body[i + 1]
            assert done["type"] == "tool_completed", (i, types)
            assert done["data"]["call_id"] == call["data"]["call_id"]
            assert done["data"]["agent"] == call["data"]["agent"] == agent
            assert done["data"]["status"] == "completed"
            i += 2
        assert body[i]["type"] == "agent_completed", (i, types)
        assert body[i]["data"]["agent"] == agent
        assert body[i]["data"]["status"] == "completed"
        i += 1


async def test_full_run_events_follow_the_golden_order_and_the_run_is_stored(app_server):
    user = await register(app_server.url)
    await load(app_server, user.org_id, demo_workload().records)
    run, frames = await ask(app_server, user, QUESTION)

    assert_golden_order(frames)
    assert agents_of(frames) == AGENTS
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    started = frames[0]["data"]
    assert (started["thread_id"], started["message_id"]) == (run["thread_id"], run["message_id"])
    tools = [f["data"]["tool"] for f in frames if f["type"] == "tool_executing"]
    assert {f"find_{s}" for s in demo_workload().planted} <= set(tools)
    message = frames[-2]["data"]
    assert run["status"] == "completed"
    assert run["content"] == message["content"] and run["report"] == message["report"]
    assert run["started_at"] and run["finished_at"] and run["duration_ms"] > 0
    assert frames[-1]["data"]["status"] == "completed"

    async with httpx.AsyncClient(base_url=app_server.url, headers=user.headers) as client:
        threads = (await client.get("/api/v1/threads")).json()
        assert [t["id"] for t in threads] == [run["thread_id"]]
        assert threads[0]["title"] == QUESTION
        r = await client.get(f"/api/v1/threads/{run['thread_id']}/messages")
    assert r.status_code == 200
    messages = r.json()
    assert [(m["role"], m["run_id"]) for m in messages] == [
        ("user", run["run_id"]),
        ("assistant", run["run_id"]),
    ]
    assert messages[0]["content"] == QUESTION
    assert messages[1]["id"] == message["message_id"]
    assert messages[1]["report"]["monthly_savings_usd"] == run["report"]["monthly_savings_usd"]


async def test_resume_with_last_event_id_returns_exactly_the_missed_events(app_server):
    user = await register(app_server.url)
    await load(app_server, user.org_id, demo_workload(planted=False).records)
    accepted = await start_run(app_server, user, QUESTION)
    everything = await read_events(app_server, user, accepted["run_id"])
    tail = await read_events(app_server, user, accepted["run_id"], last_event_id=5)
    assert tail == everything[5:]
    assert tail[0]["seq"] == 6


async def test_follow_up_question_joins_the_thread(app_server):
    user = await register(app_server.url)
    await load(app_server, user.org_id, demo_workload(planted=False).records)
    first, _ = await ask(app_server, user, "which feature costs most?")
    accepted = await start_run(app_server, user, "and which model?", thread_id=first["thread_id"])
    assert accepted["thread_id"] == first["thread_id"]
    await read_events(app_server, user, accepted["run_id"])
    async with httpx.AsyncClient(base_url=app_server.url, headers=user.headers) as client:
        messages = (await client.get(f"/api/v1/threads/{first['thread_id']}/messages")).json()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


async def test_other_users_run_thread_and_events_are_not_found(app_server):
    owner, other = await register(app_server.url), await register(app_server.url)
    accepted = await start_run(app_server, owner, QUESTION)
    await read_events(app_server, owner, accepted["run_id"])
    async with httpx.AsyncClient(base_url=app_server.url, headers=other.headers) as client:
        for path in (
            f"/api/v1/runs/{accepted['run_id']}",
            f"/api/v1/runs/{accepted['run_id']}/events",
            f"/api/v1/threads/{accepted['thread_id']}/messages",
        ):
            r = await client.get(path)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"]["code"] == "not_found"
        r = await client.post(f"/api/v1/runs/{accepted['run_id']}/cancel")
        assert r.status_code == 404
        r = await client.post(
            "/api/v1/runs", json={"message": QUESTION, "thread_id": accepted["thread_id"]}
        )
        assert r.status_code == 404
        assert (await client.get("/api/v1/threads")).json() == []


async def test_bad_requests_name_the_field(app_server):
    user = await register(app_server.url)
    async with httpx.AsyncClient(base_url=app_server.url, headers=user.headers) as client:
        r = await client.post("/api/v1/runs", json={"message": ""})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "message"
        r = await client.post("/api/v1/runs", json={"message": "x" * 4001})
        assert r.status_code == 422
        accepted = (await client.post("/api/v1/runs", json={"message": QUESTION})).json()
        r = await client.get(
            f"/api/v1/runs/{accepted['run_id']}/events", headers={"Last-Event-ID": "abc"}
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "Last-Event-ID"
        r = await client.post("/api/v1/runs", json={"message": QUESTION}, headers={
            "Authorization": "Bearer nope"})  # fmt: skip
        assert r.status_code == 401
    await read_events(app_server, user, accepted["run_id"])
    assert (await get_run(app_server, user, accepted["run_id"])).json()["status"] == "completed"


async def test_resuming_after_the_last_event_answers_204_so_eventsource_stops(app_server):
    """An EventSource reconnects whenever a stream ends, sending the last seq it saw; after
    the terminal event the answer is 204, the SSE way to say "nothing more, stop"."""
    user = await register(app_server.url)
    accepted = await start_run(app_server, user, QUESTION)
    everything = await read_events(app_server, user, accepted["run_id"])
    last = everything[-1]
    assert last["type"] == "run_completed"
    url = f"/api/v1/runs/{accepted['run_id']}/events"
    async with httpx.AsyncClient(base_url=app_server.url, headers=user.headers) as client:
        r = await client.get(url, headers={"Last-Event-ID": str(last["seq"])})
        assert (r.status_code, r.content) == (204, b"")
        # One event short of the end still gets that event.
        tail = await read_events(app_server, user, accepted["run_id"], last["seq"] - 1)
        assert tail == [last]
