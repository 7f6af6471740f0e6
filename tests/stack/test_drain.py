"""Graceful drain of one instance (app.drain, what SIGTERM runs): readiness 503 draining, new
runs and WebSockets refused with 503, open sockets closed 1012, runs finished within the bound
or stopped as instance_stopped. The app under a real uvicorn; the LLM is the local fake, kept
slow so a run is still in flight when the drain starts."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.analyst.llm_server import FakeLLM
from tests.support.realtime import (
    Frames,
    connect_ws,
    recv_json,
    register,
    seed_usage,
    send_json,
)
from tests.support.servers import live_server
from tokenomist.app import drain

QUESTION = "How can we cut our AI spend?"


def _llm_settings(llm: FakeLLM) -> dict:
    return {
        "llm": "openai",
        "llm_base_url": llm.base_url,
        "llm_api_key": "k",
        "llm_model": "test-model",
        "llm_timeout_s": 30,
    }


async def _sse_frames(base_url: str, token: str, run_id: str) -> list[dict]:
    import json

    frames = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
        client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
    return frames


async def test_drain_refuses_new_work_closes_sockets_1012_and_stops_late_runs(make_settings):
    llm = FakeLLM()
    llm.mode, llm.hang_s = "hang", 6.0  # the run waits on the LLM past the drain bound
    async with llm.serve():
        settings = make_settings(drain_delay_s=0.0, drain_timeout_s=0.5, **_llm_settings(llm))
        async with live_server(settings) as srv:
            user = await register(srv.url)
            await seed_usage(srv.url, user)  # with no usage the run never asks the LLM
            async with connect_ws(srv.url, user.access_token) as ws:
                hello = await recv_json(ws)
                assert hello["data"]["instance_id"] == srv.resources.instance_id
                await send_json(ws, {"type": "user_message", "content": QUESTION})
                started = await recv_json(ws)
                assert started["type"] == "run_started"
                run_id = started["run_id"]
                while not llm.requests:  # the run is now waiting on the LLM
                    await asyncio.sleep(0.02)
                draining = asyncio.create_task(drain(srv.resources))
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await recv_json(ws)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012

            async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
                ready = await client.get("/health/ready")
                assert ready.status_code == 503
                assert ready.json()["status"] == "draining"
                refused = await client.post(
                    "/api/v1/runs",
                    json={"message": QUESTION},
                    headers={"Authorization": f"Bearer {user.access_token}"},
                )
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "draining"
            with pytest.raises(InvalidStatus) as handshake:
                async with connect_ws(srv.url, user.access_token):
                    pass
            assert handshake.value.response.status_code == 503

            await asyncio.wait_for(draining, 30)
            # The run did not end within the bound: stopped, and its readers are told so.
            frames = await _sse_frames(srv.url, user.access_token, run_id)
            assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
            assert frames[-1]["type"] == "run_failed"
            assert frames[-1]["data"]["code"] == "instance_stopped"
            async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
                run = await client.get(
                    f"/api/v1/runs/{run_id}",
                    headers={"Authorization": f"Bearer {user.access_token}"},
                )
            assert run.json()["status"] == "failed"
            assert run.json()["error"]["code"] == "instance_stopped"


async def test_drain_lets_a_run_in_flight_finish_within_the_bound(make_settings):
    llm = FakeLLM()
    llm.mode, llm.hang_s = "hang", 0.5
    async with llm.serve():
        settings = make_settings(drain_delay_s=0.0, drain_timeout_s=60, **_llm_settings(llm))
        async with live_server(settings) as srv:
            user = await register(srv.url)
            await seed_usage(srv.url, user)  # with no usage the run never asks the LLM
            async with connect_ws(srv.url, user.access_token) as ws:
                await recv_json(ws)
                await send_json(ws, {"type": "user_message", "content": QUESTION})
                run_id = (await recv_json(ws))["run_id"]
                while not llm.requests:
                    await asyncio.sleep(0.02)
                await asyncio.wait_for(drain(srv.resources), 60)
            assert not srv.resources.require_run_manager().tasks
            frames = Frames()
            for frame in await _sse_frames(srv.url, user.access_token, run_id):
                frames.add(frame)
            run = frames.runs[run_id]
            assert [f["seq"] for f in run] == list(range(1, len(run) + 1))
            assert run[-1]["type"] == "run_completed"
