"""The golden-path order check and frame validation against the published protocol schema."""

from __future__ import annotations

import jsonschema
import pytest

from tokenomist.realtime.protocol import protocol_schema
from tokenomist.verify.gate import Thresholds
from tokenomist.verify.probes import ProbeConfig, ProbeFailed, RunState, check_order, run_checks
from tokenomist.verify.probes.websocket import validate_frame


def _events(types: list[str]) -> list[dict]:
    return [
        {"type": t, "run_id": "r1", "seq": i, "ts": "2026-01-01T00:00:00Z", "data": {}}
        for i, t in enumerate(types, 1)
    ]


AGENT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
GOOD = ["run_started", *AGENT, *AGENT, "assistant_message", "run_completed"]


def test_design_order_passes() -> None:
    check_order(_events(GOOD))


@pytest.mark.parametrize(
    ("types", "message"),
    [
        (["agent_started", *GOOD[1:]], "first run event ['agent_started'], expected run_started"),
        (
            [
                "run_started",
                "agent_started",
                "tool_executing",
                "tool_completed",
                "agent_completed",
                "assistant_message",
                "run_completed",
            ],
            "agent_started followed by tool_executing, expected agent_thinking",
        ),
        (
            [
                "run_started",
                "agent_started",
                "agent_thinking",
                "tool_completed",
                "agent_completed",
                "assistant_message",
                "run_completed",
            ],
            "tool_completed without tool_executing",
        ),
        (
            [
                "run_started",
                "agent_started",
                "agent_thinking",
                "assistant_message",
                "run_completed",
            ],
            "an agent never completed (no agent_completed)",
        ),
        (
            ["run_started", *AGENT, "run_completed"],
            "run ends with ['agent_completed', 'run_completed'], expected assistant_message, "
            "run_completed",
        ),
        (["run_started", "assistant_message", "run_completed"], "no agent ran"),
    ],
)
def test_order_violations_are_named(types: list[str], message: str) -> None:
    with pytest.raises(ProbeFailed) as err:
        check_order(_events(types))
    assert err.value.message == message
    assert err.value.evidence == [f"event sequence: {' '.join(types)}"]


def test_seq_gap_is_a_failure() -> None:
    events = _events(GOOD)
    del events[3]
    with pytest.raises(ProbeFailed, match="seq not gap-free from 1"):
        check_order(events)


def test_run_failed_carries_its_code_as_a_signal() -> None:
    events = _events(["run_started", "run_failed"])
    events[-1]["data"] = {"code": "analyst_down", "message": "no analyst"}
    with pytest.raises(ProbeFailed) as err:
        check_order(events)
    assert err.value.message == "run failed: analyst_down: no analyst"
    assert "analyst_down" in err.value.signals


async def test_frames_are_validated_against_the_published_schema() -> None:
    state = RunState(ProbeConfig("http://127.0.0.1:1", Thresholds()))
    schema = protocol_schema()["server"]
    state.frame_validator = jsonschema.validators.validator_for(schema)(schema)
    good = {
        "type": "agent_started",
        "run_id": "r",
        "seq": 2,
        "ts": "2026-01-01T00:00:00Z",
        "data": {"agent": "triage"},
    }
    await validate_frame(state, good)
    with pytest.raises(ProbeFailed) as err:
        await validate_frame(state, {**good, "data": {}})
    assert err.value.signals == ["schema:violation"]
    assert "'agent' is a required property" in err.value.message


async def _fake_target(health: object, status: int = 200):
    """A target whose /health/ready answers ``health`` (JSON) and every other path 404."""
    import asyncio
    import json

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
        if head.startswith(b"GET /health/ready "):
            code, body = status, json.dumps(health).encode()
        else:
            code, body = 404, b'{"error": {"code": "not_found", "message": "Not Found"}}'
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (code, len(body), body)
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


DEP = {"status": "healthy", "backend": "sqlite", "latency_ms": 1.0}


@pytest.mark.parametrize(
    ("health", "status", "problem"),
    [
        (
            {"status": "healthy", "checks": {"database": DEP, "cache": DEP}},
            200,
            "checks.analytics missing",
        ),
        (
            {"status": "ok", "checks": {"database": DEP, "cache": DEP, "analytics": DEP}},
            200,
            "status 'ok' is not one of healthy, degraded, unhealthy",
        ),
        (
            {"status": "healthy", "checks": {"database": DEP, "cache": DEP, "analytics": DEP}},
            503,
            "status healthy answered with HTTP 503",
        ),
        ({"status": "healthy", "checks": ["database"]}, 200, "checks is list, not an object"),
    ],
)
async def test_a_health_body_breaking_the_contract_fails_health_ready(
    health: dict, status: int, problem: str
) -> None:
    server = await _fake_target(health, status)
    port = server.sockets[0].getsockname()[1]
    try:
        # must not crash on a malformed body
        verifier = await run_checks(ProbeConfig(f"http://127.0.0.1:{port}", Thresholds(retries=0)))
    finally:
        server.close()
    ready = verifier.checks[0]
    assert (ready.name, ready.status) == ("health.ready", "failed")
    assert problem in (ready.message or "")
    assert "health.contract" in ready.signals


AFTER_HEALTH = [
    "instances",
    "auth.login",
    "auth.validate",
    "auth.validate_rejects_invalid",
    "ws.handshake_accepts_valid_token",
    "ws.handshake_refuses_invalid_token",
    "golden_path",
    "golden_path.concurrent",
    "golden_path.timing",
    "isolation",
    "resume",
]


async def test_an_unreachable_target_lists_every_check_as_skipped_in_order() -> None:
    from tests.support.servers import free_port

    state = await run_checks(ProbeConfig(f"http://127.0.0.1:{free_port()}", Thresholds()))
    ready, *rest = state.checks
    assert (ready.name, ready.status, state.reachable) == ("health.ready", "failed", False)
    assert [c.name for c in rest] == AFTER_HEALTH
    assert {(c.status, c.message) for c in rest} == {("skipped", "target unreachable at start")}


async def test_a_provided_token_is_listed_as_skipped_when_it_cannot_be_checked() -> None:
    from tests.support.servers import free_port

    config = ProbeConfig(f"http://127.0.0.1:{free_port()}", Thresholds(), token="a.b.c")
    names = [c.name for c in (await run_checks(config)).checks]
    assert names[1:] == [*AFTER_HEALTH[:4], "auth.provided_token", *AFTER_HEALTH[4:]]


async def test_without_a_login_the_dependencies_run_and_the_rest_is_skipped() -> None:
    healthy = {"status": "healthy", "checks": {"database": DEP, "cache": DEP, "analytics": DEP}}
    server = await _fake_target(healthy)  # every other path, /auth/register too, answers 404
    port = server.sockets[0].getsockname()[1]
    try:
        state = await run_checks(ProbeConfig(f"http://127.0.0.1:{port}/", Thresholds(retries=0)))
    finally:
        server.close()
    by_status = [(c.name, c.status) for c in state.checks]
    assert by_status[:7] == [
        ("health.ready", "passed"),
        ("dependency.database", "passed"),
        ("dependency.cache", "passed"),
        ("dependency.analytics", "passed"),
        ("instances", "skipped"),  # the fake's body has no instance_id
        ("auth.login", "failed"),
        ("auth.validate", "skipped"),
    ]
    assert [n for n, _ in by_status[4:]] == AFTER_HEALTH
    assert "no instance_id" in (state.checks[4].message or "")
    assert {c.message for c in state.checks[6:]} == {"no access token (auth.login failed)"}
    assert "POST /auth/register → 404" in (state.checks[5].message or "")
