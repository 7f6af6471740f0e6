"""Real runs over a real socket: the golden path, resume, isolation, cancel — on both bus
backends. Runs are started with `user_message` and driven by the analyst pipeline."""

from __future__ import annotations

import asyncio

import httpx
import jsonschema
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.realtime import (
    Frames,
    connect_ws,
    read_until_terminal,
    recv_json,
    register,
    seed_usage,
    send_json,
)
from tests.support.servers import live_server
from tokenomist.realtime.protocol import CLOSE_IDLE

QUESTION = "How can we cut our AI spend?"
AGENTS = ["triage", "data", "optimization", "actions", "reporting"]


@pytest.fixture
async def srv(make_settings, cache_backend):
    async with live_server(make_settings(cache=cache_backend)) as s:
        yield s


async def server_validator(base_url: str) -> jsonschema.Draft202012Validator:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        r = await client.get("/api/v1/protocol")
    assert r.status_code == 200
    schema = r.json()["server"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_golden_order(frames: list[dict]) -> list[str]:
    """DESIGN §1 step 4: run_started, then per agent agent_started → agent_thinking (≥1) →
    (tool_executing → tool_completed)* → agent_completed, then assistant_message and
    run_completed. Returns the agents in the order they ran."""
    types = [f["type"] for f in frames]
    assert types[0] == "run_started", types
    assert types[-2:] == ["assistant_message", "run_completed"], types
    agents: list[str] = []
    i, body = 0, frames[1:-2]
    while i < len(body):
        assert body[i]["type"] == "agent_started", (i, types)
        agent = body[i]["data"]["agent"]
        agents.append(agent)
        i += 1
        assert body[i]["type"] == "agent_thinking", (i, types)
        while body[i]["type"] == "agent_thinking":
            assert body[i]["data"]["agent"] == agent
            i += 1
        while body[i]["type"] == "tool_executing":
            call, done = body[i], body[i + 1]
            assert done["type"] == "tool_completed", (i, types)
            assert (done["data"]["call_id"], done["data"]["agent"]) == (
                call["data"]["call_id"],
                agent,
            )
            i += 2
        assert body[i]["type"] == "agent_completed", (i, types)
        assert body[i]["data"]["agent"] == agent
        i += 1
    return agents


def assert_gap_free(frames: list[dict]) -> None:
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


async def start(ws, content: str = QUESTION) -> None:
    await send_json(ws, {"type": "user_message", "content": content, "client_message_id": "c1"})


async def test_golden_path_exact_order_every_frame_matches_published_schema(srv):
    validator = await server_validator(srv.url)
    user = await register(srv.url)
    await seed_usage(srv.url, user)
    async with connect_ws(srv.url, user.access_token) as ws:
        hello = await recv_json(ws)
        validator.validate(hello)
        await start(ws)
        frames = Frames()
        await read_until_terminal(ws, frames)
    assert len(frames.runs) == 1
    run_id, run = next(iter(frames.runs.items()))
    for frame in frames.all:
        validator.validate(frame)
    assert_gap_free(run)
    assert assert_golden_order(run) == AGENTS
    assert run[-1]["data"]["status"] == "completed"
    report = next(f for f in run if f["type"] == "assistant_message")["data"]["report"]
    assert report["spend_usd"] > 0
    assert report["strategies"], "the planted inefficiencies were not found"
    # What the client saw is exactly what the bus holds for the run.
    stored = await srv.resources.bus.replay(run_id)
    assert [e.model_dump(exclude_none=True) for e in stored] == run


async def test_resume_after_disconnect_yields_every_event_once_in_order(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await start(ws)
        first = [await recv_json(ws) for _ in range(3)]
    run_id = first[0]["run_id"]
    assert [f["seq"] for f in first] == [1, 2, 3]
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 3})
        frames = Frames()
        await read_until_terminal(ws, frames, {run_id})
    union = first + frames.runs[run_id]
    assert_gap_free(union)
    assert assert_golden_order(union) == AGENTS
    stored = await srv.resources.bus.replay(run_id)
    assert [e.seq for e in stored] == [f["seq"] for f in union]


async def test_resume_twice_on_one_connection_sends_each_event_once(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await start(ws)
        frames = Frames()
        await read_until_terminal(ws, frames)
        run_id = next(iter(frames.runs))
        n = len(frames.runs[run_id])
        # Replaying a finished run from the middle returns exactly its tail, once.
        await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": n - 2})
        tail = [await recv_json(ws) for _ in range(2)]
        assert [f["seq"] for f in tail] == [n - 1, n]
        await send_json(ws, {"type": "ping"})
        assert (await recv_json(ws))["type"] == "pong"  # nothing else was queued before it


async def test_resuming_another_users_run_is_not_found(srv):
    owner, other = await register(srv.url), await register(srv.url)
    async with connect_ws(srv.url, owner.access_token) as ws:
        await recv_json(ws)
        await start(ws)
        frames = Frames()
        await read_until_terminal(ws, frames)
    run_id = next(iter(frames.runs))
    async with connect_ws(srv.url, other.access_token) as ws:
        await recv_json(ws)
        for frame in (
            {"type": "resume", "run_id": run_id, "after_seq": 0},
            {"type": "cancel", "run_id": run_id},
            {"type": "resume", "run_id": "0" * 32, "after_seq": 0},
        ):
            await send_json(ws, frame)
            reply = await recv_json(ws)
            assert (reply["type"], reply["data"]["code"]) == ("error", "not_found"), reply
            assert "run_id" not in reply
        await send_json(ws, {"type": "ping"})
        assert (await recv_json(ws))["type"] == "pong"


@pytest.mark.slow
async def test_twenty_users_concurrent_runs_each_sees_only_its_own(make_settings):
    async with live_server(make_settings(cache="redis")) as srv:
        users = await asyncio.gather(*(register(srv.url) for _ in range(20)))

        async def one(user) -> tuple[str, Frames]:
            async with connect_ws(srv.url, user.access_token) as ws:
                hello = await recv_json(ws)
                assert hello["data"]["user_id"] == user.user_id
                await start(ws)
                frames = Frames()
                await read_until_terminal(ws, frames, timeout=300)
                return user.user_id, frames

        results = await asyncio.gather(*(one(u) for u in users))
        owner_of: dict[str, str] = {}
        for user_id, frames in results:
            assert len(frames.runs) == 1, f"{user_id} received events of {len(frames.runs)} runs"
            run_id, run = next(iter(frames.runs.items()))
            assert run_id not in owner_of
            owner_of[run_id] = user_id
            assert_gap_free(run)
            assert assert_golden_order(run) == AGENTS
            foreign = [f for f in frames.all if f.get("run_id") not in (None, run_id)]
            assert foreign == []
        assert len(owner_of) == 20


def gate_before(bus, type: str, agent: str | None = None) -> asyncio.Event:
    """Hold the pipeline just before it publishes ``type`` (of ``agent``) until the returned
    event is set: the test decides what happens at that exact point of a real run."""
    gate = asyncio.Event()
    original = bus.publish

    async def publish(run_id, kind, data):
        if str(kind) == type and (agent is None or data.get("agent") == agent):
            await gate.wait()
        return await original(run_id, kind, data)

    bus.publish = publish
    return gate


async def test_cancel_ends_the_run_with_run_failed_cancelled(srv):
    gate = gate_before(srv.resources.bus, "agent_started", AGENTS[1])
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await start(ws)
        frames = Frames()
        while not frames.all or frames.all[-1]["type"] != "agent_completed":
            frames.add(await recv_json(ws))
        run_id = frames.all[0]["run_id"]
        await send_json(ws, {"type": "cancel", "run_id": run_id})
        await send_json(ws, {"type": "ping"})  # frames are handled in order: pong = cancelled
        assert (await recv_json(ws))["type"] == "pong"
        gate.set()
        await read_until_terminal(ws, frames, {run_id})
    run = frames.runs[run_id]
    assert_gap_free(run)
    assert run[-1]["type"] == "run_failed"
    assert run[-1]["data"]["code"] == "cancelled"
    assert "assistant_message" not in [f["type"] for f in run]


async def test_concurrent_run_limit_answers_rate_limited_and_connection_stays_usable(srv):
    gate = gate_before(srv.resources.bus, "run_completed")
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        limit = srv.resources.settings.analyst_max_concurrent_runs
        refused = None
        for i in range(limit + 1):
            await send_json(
                ws, {"type": "user_message", "content": QUESTION, "client_message_id": f"m{i}"}
            )
            await send_json(ws, {"type": "ping"})
            while True:  # skip run events until the pong that follows this message
                frame = await recv_json(ws)
                if frame["type"] == "error":
                    refused = (i, frame["data"])
                if frame["type"] == "pong":
                    break
        assert refused is not None
        assert refused[0] == limit
        assert refused[1]["code"] == "rate_limited"
        assert refused[1]["client_message_id"] == f"m{limit}"
        gate.set()
        await send_json(ws, {"type": "ping"})
        while (await recv_json(ws))["type"] != "pong":
            pass


async def test_resume_of_a_finished_run_at_its_end_leaves_nothing_followed(
    make_settings, cache_backend
):
    async with live_server(make_settings(cache=cache_backend, ws_idle_timeout_s=1.5)) as srv:
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await start(ws)
            frames = Frames()
            await read_until_terminal(ws, frames)
        run_id = next(iter(frames.runs))
        last = frames.runs[run_id][-1]["seq"]
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": last})
            # Nothing is new and nothing will come: no frame, and the connection idles out
            # like any other instead of being held open by a reader waiting forever.
            with pytest.raises(ConnectionClosed) as info:
                await recv_json(ws, timeout=10)
            assert info.value.rcvd is not None and info.value.rcvd.code == CLOSE_IDLE
