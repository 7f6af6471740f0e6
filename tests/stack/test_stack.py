"""The stack for real: `tokenomist serve` processes behind Debian's HAProxy, sharing the local
PostgreSQL and Redis (tokenomist.stack). Verify through the load balancer, an instance killed
with SIGKILL mid-run, a rolling restart under load, and `tokenomist loop` rolling a new build
(and a build that dies at once) with `--rolling`. The LLM is the local fake, kept slow so runs
are in flight while instances go away."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.analyst.llm_server import FakeLLM
from tests.support.lb import require_haproxy
from tests.support.realtime import User, connect_ws, recv_json, register, send_json
from tokenomist.stack import service

pytestmark = pytest.mark.slow
QUESTION = "How can we cut our AI spend?"
TERMINAL = {"run_completed", "run_failed"}


@pytest.fixture(scope="module")
async def llm():
    fake = FakeLLM()
    fake.mode, fake.hang_s = "hang", 1.5  # every LLM call: 1.5 s (a run makes two)
    async with fake.serve():
        yield fake


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, pg_url, redis_url, llm):
    require_haproxy()
    prefix = f"tk-test-{uuid.uuid4().hex[:8]}:"
    env = {
        "TOKENOMIST_CACHE_PREFIX": prefix,
        "TOKENOMIST_ENVIRONMENT": "test",
        "TOKENOMIST_INSTANCE_HEARTBEAT_S": "0.5",
        "TOKENOMIST_DRAIN_DELAY_S": "1.0",
        "TOKENOMIST_DRAIN_TIMEOUT_S": "30",
        "TOKENOMIST_LLM": "openai",
        "TOKENOMIST_LLM_BASE_URL": llm.base_url,
        "TOKENOMIST_LLM_API_KEY": "k",
        "TOKENOMIST_LLM_MODEL": "test-model",
        "TOKENOMIST_LLM_TIMEOUT_S": "30",
    }
    directory = tmp_path_factory.mktemp("stack")
    up = await asyncio.to_thread(
        service.up, directory, instances=2, database_url=pg_url, redis_url=redis_url,
        extra_env=env,
    )  # fmt: skip
    try:
        yield up
    finally:
        await asyncio.to_thread(service.down, service.Stack.load(directory))
        client = sync_redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def _instance_of(stack: service.Stack) -> dict[str, service.Instance]:
    """instance_id (as the app reports it) -> the stack's instance."""
    found = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for inst in service.Stack.load(stack.dir).instances:
            body = (await http.get(inst.url + "/health/ready")).json()
            found[body["instance_id"]] = inst
    return found


async def _user_with_usage(stack: service.Stack) -> User:
    """A user whose org has usage on EVERY instance: with per-instance chDB (no ClickHouse
    server here) a run answers from the data of the instance it runs on."""
    from tokenomist.usage.demo import generate

    user = await register(stack.lb_url)
    records = generate(seed=7, days=3).records
    async with httpx.AsyncClient(timeout=120) as http:
        for inst in service.Stack.load(stack.dir).instances:
            r = await http.post(
                inst.url + "/api/v1/usage",
                json=records,
                headers={"Authorization": f"Bearer {user.access_token}"},
            )
            assert r.status_code == 200, r.text
    return user


def _assert_once_in_order(frames: list[dict]) -> None:
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert frames[-1]["type"] in TERMINAL


async def test_verify_through_the_load_balancer_says_go(stack, tmp_path):
    out = tmp_path / "verify"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tokenomist", "verify", "--target", stack.lb_url, "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["decision"] == "go"
    assert {c["name"]: c["status"] for c in report["checks"]}["resume"] == "passed"


async def test_resume_lands_on_the_other_instance_through_the_load_balancer(stack):
    user = await register(stack.lb_url)
    async with connect_ws(stack.lb_url, user.access_token) as ws:
        first_instance = (await recv_json(ws))["data"]["instance_id"]
        await send_json(ws, {"type": "user_message", "content": QUESTION})
        first = [await recv_json(ws) for _ in range(2)]
    run_id = first[0]["run_id"]
    # Round robin: within a few connections one lands on the other instance.
    for _ in range(6):
        async with connect_ws(stack.lb_url, user.access_token) as ws:
            if (await recv_json(ws))["data"]["instance_id"] == first_instance:
                continue
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 2})
            rest = []
            while not rest or rest[-1]["type"] not in TERMINAL:
                rest.append(await recv_json(ws, timeout=60))
            break
    else:
        pytest.fail("no connection through the load balancer reached the other instance")
    _assert_once_in_order(first + rest)


async def test_sigkill_mid_run_the_client_resumes_elsewhere_and_sees_the_run_end(stack):
    user = await _user_with_usage(stack)
    instances = await _instance_of(stack)
    async with connect_ws(stack.lb_url, user.access_token) as ws:
        holder = (await recv_json(ws))["data"]["instance_id"]
        await send_json(ws, {"type": "user_message", "content": QUESTION})
        frames = [await recv_json(ws) for _ in range(3)]
        victim = instances[holder]
        os.kill(victim.pid, signal.SIGKILL)  # the run's own instance dies, no drain
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(await recv_json(ws))
    run_id = frames[0]["run_id"]
    try:
        async with connect_ws(stack.lb_url, user.access_token) as ws:
            assert (await recv_json(ws))["data"]["instance_id"] != holder
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": len(frames)})
            while frames[-1]["type"] not in TERMINAL:
                frames.append(await recv_json(ws, timeout=60))
        _assert_once_in_order(frames)
        end = frames[-1]
        # Ended by its instance before it died, or by the survivor that saw it die.
        assert end["type"] == "run_completed" or end["data"]["code"] == "instance_stopped", end
        print(f"\nSIGKILL mid-run: {len(frames)} events, gap-free, ended with {end['type']}"
              f"{'' if end['type'] == 'run_completed' else ' ' + end['data']['code']}")  # fmt: skip
    finally:
        restarted = service.Stack.load(stack.dir)
        inst = next(i for i in restarted.instances if i.name == victim.name)
        service.start_instance(restarted, inst)
        restarted.save()
        await asyncio.to_thread(service.wait_instance_ready, restarted, inst, 90)
        await asyncio.to_thread(service.wait_lb_up, restarted, [inst.name], 60)


@dataclass
class Load:
    requests: Counter = field(default_factory=Counter)  # what the clients sent, by kind
    failed: list[str] = field(default_factory=list)
    reconnects: Counter = field(default_factory=Counter)  # close code -> count
    runs: dict[str, list[dict]] = field(default_factory=dict)
    duplicates: int = 0
    stop: bool = False


async def _stream_runs(lb_url: str, user: User, load: Load) -> None:
    """Ask, follow the run to its end across reconnects (resume after the last seq), repeat."""
    while not load.stop:
        run_id: str | None = None
        frames: list[dict] = []
        while not frames or frames[-1]["type"] not in TERMINAL:
            try:
                async with connect_ws(lb_url, user.access_token) as ws:
                    await recv_json(ws)
                    if run_id is None:
                        load.requests["user_message"] += 1
                        await send_json(ws, {"type": "user_message", "content": QUESTION})
                    else:
                        load.requests["resume"] += 1
                        await send_json(
                            ws, {"type": "resume", "run_id": run_id, "after_seq": len(frames)}
                        )
                    while not frames or frames[-1]["type"] not in TERMINAL:
                        frame = await recv_json(ws, timeout=90)
                        if frame["type"] == "error":
                            load.failed.append(f"error frame {frame['data']}")
                            return
                        if frame.get("run_id") is None:
                            continue
                        run_id = frame["run_id"]
                        if frame["seq"] <= len(frames):
                            load.duplicates += 1
                            continue
                        frames.append(frame)
            except ConnectionClosed as closed:
                load.reconnects[closed.rcvd.code if closed.rcvd else 1006] += 1
            except (InvalidStatus, OSError) as exc:
                load.failed.append(f"WebSocket: {type(exc).__name__}: {exc}")
                return
        assert run_id is not None
        load.runs[run_id] = frames


async def _ingest(lb_url: str, user: User, load: Load) -> None:
    """Small usage batches through the load balancer, one after another."""
    from tokenomist.usage.demo import generate

    records = generate(seed=11, days=1).records
    async with httpx.AsyncClient(base_url=lb_url, timeout=60) as http:
        n = 0
        while not load.stop:
            batch = records[n % len(records) : n % len(records) + 20] or records[:20]
            n += 20
            load.requests["ingest"] += 1
            try:
                r = await http.post(
                    "/api/v1/usage",
                    json=batch,
                    headers={"Authorization": f"Bearer {user.access_token}"},
                )
                if r.status_code != 200:
                    load.failed.append(f"ingest {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                load.failed.append(f"ingest {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.05)


async def test_rolling_restart_under_load_loses_nothing(stack):
    users = [await _user_with_usage(stack) for _ in range(3)]
    load = Load()
    clients = [asyncio.create_task(_stream_runs(stack.lb_url, u, load)) for u in users]
    clients.append(asyncio.create_task(_ingest(stack.lb_url, users[0], load)))
    try:
        await asyncio.sleep(2)  # runs in flight on both instances
        rolled = await asyncio.to_thread(service.roll, service.Stack.load(stack.dir))
        await asyncio.sleep(2)
    finally:
        load.stop = True
        await asyncio.wait_for(asyncio.gather(*clients), 180)
    ends = Counter(frames[-1]["type"] for frames in load.runs.values())
    events = sum(len(frames) for frames in load.runs.values())
    print(
        f"\nrolling restart ({'; '.join(rolled)}): requests {dict(load.requests)}, "
        f"runs {len(load.runs)} ({dict(ends)}), events {events}, duplicates {load.duplicates}, "
        f"reconnects by close code {dict(load.reconnects)}, failed {len(load.failed)}"
    )
    assert load.failed == []
    assert load.duplicates == 0
    assert load.reconnects[1012] >= 1  # sockets were moved off the draining instances
    assert load.runs and ends["run_completed"] == len(load.runs)
    for frames in load.runs.values():
        _assert_once_in_order(frames)


async def test_loop_rolls_a_new_build_and_rejects_one_that_dies_at_once(stack, tmp_path):
    tk = f"{sys.executable} -m tokenomist"
    new_build = f"env TOKENOMIST_LOG_LEVEL=INFO {sys.executable} -m tokenomist"

    def loop(deploy: str, out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable, "-m", "tokenomist", "loop", "--target", stack.lb_url,
                "--deploy", deploy, "--rollback", f"{tk} stack roll --dir {stack.dir} --previous",
                "--rolling", "--ready-timeout", "900", "--out", str(out),
            ],
            capture_output=True, text=True, timeout=280,
        )  # fmt: skip

    good = await asyncio.to_thread(
        loop, f"{tk} stack roll --dir {stack.dir} --build '{new_build}'", tmp_path / "good"
    )
    assert good.returncode == 0, good.stdout + good.stderr
    after = service.Stack.load(stack.dir)
    assert after.build == new_build and after.previous_build == service.default_build()
    assert all(i.build == new_build for i in after.instances)

    # `false` exits at once: the roll stops at the first instance (restarted on the build it
    # had) and exits 1, which the loop takes as a failed deploy without waiting 900 s.
    bad = await asyncio.to_thread(
        loop, f"{tk} stack roll --dir {stack.dir} --build false", tmp_path / "bad"
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    worklog = (tmp_path / "bad" / "worklog.md").read_text()
    assert "deploy command exited 1 before the target was ready" in worklog
    assert "exited during start-up" in worklog
    assert "rollback" in worklog and "verified: GO" in worklog
    final = service.Stack.load(stack.dir)
    assert all(i.build == new_build and service.alive(i.pid) for i in final.instances)
