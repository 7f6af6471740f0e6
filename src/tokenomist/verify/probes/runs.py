"""The golden path and what is built on it: ``golden_path`` (DESIGN §1 event order),
``golden_path.concurrent``, ``golden_path.timing``, two-user ``isolation`` and ``resume``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tokenomist.verify.probes.auth import register
from tokenomist.verify.probes.signals import ProbeFailed, ProbeSkipped
from tokenomist.verify.probes.state import RunState, RunTrace, Session
from tokenomist.verify.probes.websocket import open_socket, raise_on_error_frame, recv

TERMINAL = ("run_completed", "run_failed")
GOLDEN_QUESTION = "How can we cut our AI spend?"


async def golden_run(state: RunState, session: Session, message: str = GOLDEN_QUESTION) -> RunTrace:
    """Ask ``message`` on a fresh socket and collect the run's events up to its terminal one;
    the trace (checked for DESIGN order) also feeds ``golden_path.timing``."""
    cm, ws, _ = await open_socket(state, session)
    try:
        started = time.monotonic()
        deadline = started + state.config.run_timeout_s
        await ws.send(json.dumps({"type": "user_message", "content": message}))
        trace = RunTrace(None)
        while True:
            frame = await recv(state, ws, deadline)
            raise_on_error_frame(frame)
            if frame.get("run_id") is None:
                continue
            if trace.run_id is None:
                trace.run_id = frame["run_id"]
                trace.time_to_first_event_ms = (time.monotonic() - started) * 1000
            trace.events.append(frame)
            if frame["type"] in TERMINAL and frame["run_id"] == trace.run_id:
                trace.time_to_completion_ms = (time.monotonic() - started) * 1000
                break
    finally:
        await cm.__aexit__(None, None, None)
    check_order(trace.events)
    state.traces.append(trace)
    return trace


async def probe_golden_path(state: RunState) -> str:
    trace = await golden_run(state, state.users[0])
    state.measured["golden_path"] = {
        "events": len(trace.events),
        "time_to_first_event_ms": round(trace.time_to_first_event_ms or 0, 1),
        "time_to_completion_ms": round(trace.time_to_completion_ms or 0, 1),
    }
    return (
        f"{len(trace.events)} events in order; first after "
        f"{trace.time_to_first_event_ms:.0f} ms, completed after "
        f"{trace.time_to_completion_ms:.0f} ms"
    )


async def _concurrency_users(state: RunState, n: int) -> list[Session]:
    """One user per concurrent golden path where sign-up allows (N people asking at once,
    each within the per-user run limit); else the given users round-robin."""
    while len(state.extra_users) + len(state.users) < n and state.signup_open:
        try:
            state.extra_users.append(await register(state))
        except ProbeFailed:
            state.signup_open = False
    pool = state.users + state.extra_users
    return [pool[i % len(pool)] for i in range(n)]


async def probe_concurrent(state: RunState) -> str:
    n = state.config.concurrency
    sessions = await _concurrency_users(state, n)
    results = await asyncio.gather(
        *(golden_run(state, s) for s in sessions), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    users = len({s.email for s in sessions})
    if failed:
        first = failed[0]
        if isinstance(first, ProbeFailed):
            raise ProbeFailed(
                f"{len(failed)}/{n} concurrent golden paths ({users} users) failed; "
                f"first: {first.message}",
                signals=first.signals,
                evidence=first.evidence,
            )
        raise first
    ids = {r.run_id for r in results if isinstance(r, RunTrace)}
    if len(ids) != n:
        raise ProbeFailed(f"{n} concurrent runs produced {len(ids)} distinct run ids")
    return f"{n} concurrent golden paths completed ({users} users)"


async def probe_timing(state: RunState) -> str:
    limits = state.config.thresholds
    done = [t for t in state.traces if t.time_to_completion_ms is not None]
    need = limits.min_samples
    if len(done) < need:
        raise ProbeSkipped(f"too few samples: {len(done)} completed runs, need {need}")
    first = sorted(t.time_to_first_event_ms or 0 for t in done)
    total = sorted(t.time_to_completion_ms or 0 for t in done)
    p95_first, p95_total = _p95(first), _p95(total)
    message = (
        f"p95 time to first event {p95_first:.0f} ms (limit "
        f"{limits.time_to_first_event_ms:.0f}), to completion {p95_total:.0f} ms "
        f"(limit {limits.time_to_completion_ms:.0f}) over {len(done)} runs"
    )
    state.measured["golden_path.timing"] = {
        "samples": len(done),
        "p95_time_to_first_event_ms": round(p95_first, 1),
        "p95_time_to_completion_ms": round(p95_total, 1),
    }
    if p95_first > limits.time_to_first_event_ms or p95_total > limits.time_to_completion_ms:
        raise ProbeFailed(message, signals=["latency:above_threshold"], evidence=[message])
    return message


async def probe_isolation(state: RunState) -> str:
    if len(state.users) < 2:
        raise ProbeSkipped(f"needs a second user: {state.second_user_problem}")
    a, b = state.users[0], state.users[1]
    trace_a, trace_b = await asyncio.gather(golden_run(state, a), golden_run(state, b))
    # Each socket saw only its own run (foreign run_ids would have been collected above
    # and fail here), and B cannot resume A's run.
    for who, trace in (("A", trace_a), ("B", trace_b)):
        foreign = {e["run_id"] for e in trace.events} - {trace.run_id}
        if foreign:
            raise ProbeFailed(
                f"user {who} received events of another run: {sorted(foreign)}",
                evidence=[json.dumps(trace.events[0])[:300]],
            )
    cm, ws, _ = await open_socket(state, b)
    try:
        await ws.send(json.dumps({"type": "resume", "run_id": trace_a.run_id, "after_seq": 0}))
        frame = await recv(state, ws, time.monotonic() + state.config.request_timeout_s)
    finally:
        await cm.__aexit__(None, None, None)
    if frame.get("type") != "error" or frame["data"].get("code") != "not_found":
        raise ProbeFailed(
            "user B resuming user A's run was answered "
            f"{frame.get('type')} {frame.get('data')}, expected error not_found",
            evidence=[json.dumps(frame)[:400]],
        )
    return "each user saw only its own run; resuming another user's run → not_found"


async def probe_resume(state: RunState) -> str:
    session = state.users[0]
    cm, ws, _ = await open_socket(state, session)
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + state.config.run_timeout_s
        await ws.send(json.dumps({"type": "user_message", "content": GOLDEN_QUESTION}))
        while len(seen) < 2:
            frame = await recv(state, ws, deadline)
            raise_on_error_frame(frame)
            if frame.get("run_id"):
                seen.append(frame)
    finally:
        await cm.__aexit__(None, None, None)  # drop the socket mid-run
    run_id, after = seen[0]["run_id"], seen[-1]["seq"]
    cm, ws, _ = await open_socket(state, session)
    rest: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + state.config.run_timeout_s
        await ws.send(json.dumps({"type": "resume", "run_id": run_id, "after_seq": after}))
        while True:
            frame = await recv(state, ws, deadline)
            raise_on_error_frame(frame, "resume")
            if frame.get("run_id") != run_id:
                continue
            rest.append(frame)
            if frame["type"] in TERMINAL:
                break
    finally:
        await cm.__aexit__(None, None, None)
    seqs = [f["seq"] for f in rest]
    if seqs != list(range(after + 1, after + 1 + len(seqs))):
        raise ProbeFailed(
            f"resume after seq {after} replayed seqs {seqs[:10]}…: gap or duplicate",
            evidence=[f"seqs after resume: {seqs}"],
        )
    check_order(seen + rest)
    return f"resumed after seq {after}: {len(rest)} events, no gap, no duplicate"


def check_order(events: list[dict[str, Any]]) -> None:
    """The DESIGN §1 step 4 order: run_started, per agent agent_started → agent_thinking (≥1)
    → (tool_executing → tool_completed)* → agent_completed, then assistant_message and
    run_completed; seq gap-free from 1."""
    types = [e["type"] for e in events]
    seqs = [e.get("seq") for e in events]
    evidence = [f"event sequence: {' '.join(types)}"]
    if seqs != list(range(1, len(events) + 1)):
        raise ProbeFailed(f"seq not gap-free from 1: {seqs[:20]}", evidence=evidence)
    if not types or types[0] != "run_started":
        raise ProbeFailed(f"first run event {types[:1]}, expected run_started", evidence=evidence)
    if types[-1] == "run_failed":
        data = events[-1].get("data", {})
        raise ProbeFailed(
            f"run failed: {data.get('code')}: {data.get('message')}",
            signals=[str(data.get("code")), str(data.get("message"))],
            evidence=[*evidence, json.dumps(events[-1])[:300]],
        )
    if types[-2:] != ["assistant_message", "run_completed"]:
        raise ProbeFailed(
            f"run ends with {types[-2:]}, expected assistant_message, run_completed",
            evidence=evidence,
        )
    _check_agents(types[1:-2], evidence)


def _check_agents(body: list[str], evidence: list[str]) -> None:
    """The agents between run_started and assistant_message, one after another (``body[k]``
    is event #k + 2 of the run)."""
    k, agents = 0, 0
    while k < len(body):
        if body[k] != "agent_started":
            raise ProbeFailed(
                f"expected agent_started at #{k + 2}, got {body[k]}", evidence=evidence
            )
        k += 1
        if k >= len(body) or body[k] != "agent_thinking":
            got = body[k] if k < len(body) else "nothing"
            raise ProbeFailed(
                f"agent_started followed by {got}, expected agent_thinking", evidence=evidence
            )
        k = _check_agent_steps(body, k, evidence)
        agents += 1
        k += 1
    if agents == 0:
        raise ProbeFailed("no agent ran", evidence=evidence)


def _check_agent_steps(body: list[str], k: int, evidence: list[str]) -> int:
    """Thinking and paired tool events from ``body[k]`` up to the agent's agent_completed,
    whose index it returns."""
    open_tools = 0
    while k < len(body) and body[k] != "agent_completed":
        t = body[k]
        if t == "tool_executing":
            if open_tools:
                raise ProbeFailed(
                    "tool_executing before the previous tool_completed", evidence=evidence
                )
            open_tools = 1
        elif t == "tool_completed":
            if not open_tools:
                raise ProbeFailed("tool_completed without tool_executing", evidence=evidence)
            open_tools = 0
        elif t not in ("agent_thinking", "agent_error"):
            raise ProbeFailed(f"unexpected {t} inside an agent", evidence=evidence)
        k += 1
    if k >= len(body):
        raise ProbeFailed("an agent never completed (no agent_completed)", evidence=evidence)
    if open_tools:
        raise ProbeFailed("a tool_executing without tool_completed", evidence=evidence)
    return k


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    idx = max(0, round(0.95 * len(values)) - 1)
    return sorted(values)[idx]
