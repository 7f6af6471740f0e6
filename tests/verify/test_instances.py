"""The ``instances`` check: `tokenomist serve` processes behind the real HAProxy (the product's
own configuration, round-robin), one of them started differently, and verify naming it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.lb import load_balancer
from tests.support.servers import free_port
from tests.support.verify import finding_about, options
from tokenomist.verify import gate
from tokenomist.verify.probes import ProbeConfig, RunState
from tokenomist.verify.probes.instances import disagreements, probe_instances, steadiest
from tokenomist.verify.service import verify
from tokenomist.verify.signatures import default_catalogue, match


def _instance_id(url: str) -> str:
    return httpx.get(url + "/health/ready", timeout=10).json()["instance_id"]


def _check(doc: dict, name: str) -> dict:
    return next(c for c in doc["checks"] if c["name"] == name)


async def _probe(target: str) -> tuple[str | None, RunState]:
    state = RunState(ProbeConfig(target, gate.Thresholds()))
    return await probe_instances(state), state


@pytest.fixture
def shared_env(pg_url: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    """What instances of one deployment share: the database, Redis and its key prefix."""
    return {
        "TOKENOMIST_DATABASE_URL": pg_url,
        "TOKENOMIST_REDIS_URL": redis_url,
        "TOKENOMIST_CACHE_PREFIX": redis_prefix,
    }


@pytest.mark.slow
async def test_redis_down_on_one_of_two_instances_is_named_in_one_finding(
    servers, shared_env: dict[str, str], tmp_path: Path
) -> None:
    good = servers(shared_env)
    # Redis is not a required dependency: the odd instance stays "degraded", answers 200 and
    # so stays in HAProxy's rotation, failing only the requests that land on it.
    odd = servers({**shared_env, "TOKENOMIST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    odd_id = _instance_id(odd.url)
    with load_balancer({"good": good.port, "odd": odd.port}, tmp_path / "lb") as lb:
        doc = await verify(options(lb.url, tmp_path))
    check = _check(doc, "instances")
    assert check["status"] == "failed", check
    assert check["subject"] == odd_id
    assert check["message"].startswith(f"1 of 2 instances ({odd_id}) reports cache unhealthy")
    assert set(check["data"]["instances"]) == {odd_id, _instance_id(good.url)}
    [finding] = finding_about(doc, odd_id)
    assert finding["class"] == "infrastructure"
    assert finding["signature"] == "instance_dependency_down"
    assert finding["affected"] == ["instances"]
    assert finding["cause"].startswith(f"1 of 2 instances ({odd_id}) reports cache unhealthy")
    assert f"from instance {odd_id} → checks.cache = " in finding["whys"][0]["evidence"]


@pytest.mark.slow
async def test_two_instances_that_agree_pass_and_say_how_many_were_seen(
    servers, shared_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = servers(shared_env), servers(shared_env)
    ids = {_instance_id(a.url), _instance_id(b.url)}
    with load_balancer({"a": a.port, "b": b.port}, tmp_path / "lb") as lb:
        message, state = await _probe(lb.url)
    assert message is not None and message.startswith("2 instances agree in 8 answers: version ")
    assert set(state.measured["instances"]["instances"]) == ids


async def test_a_single_instance_is_one_instance_seen_and_no_finding(
    servers, tmp_path: Path
) -> None:
    srv = servers()
    message, state = await _probe(srv.url)
    assert message == "1 instance seen in 4 answers"
    assert list(state.measured["instances"]["instances"]) == [_instance_id(srv.url)]


SLOW = ("redis", "degraded")


def _body(instance: str, version: str = "0.1.0", **deps: tuple[str, str]) -> dict:
    checks = {"database": ("postgresql", "healthy"), "cache": ("redis", "healthy"), **deps}
    return {
        "instance_id": instance,
        "version": version,
        "checks": {n: {"backend": b, "status": s} for n, (b, s) in checks.items()},
    }


def test_a_different_build_on_one_of_two_instances_names_that_instance() -> None:
    # An odd one out in a tie is the instance seen later: the first answer sets the norm.
    [found] = disagreements({"a": _body("a"), "b": _body("b", "0.2.0")})
    assert (found.kind, found.odd) == ("version", ["b"])
    assert found.text == "1 of 2 instances (b) differs: version 0.2.0 vs 0.1.0 on the other"


def test_the_minority_differs_and_every_disagreement_is_listed_weightiest_first() -> None:
    memory = ("memory", "healthy")
    bodies = {"a": _body("a"), "b": _body("b", "0.2.0", cache=memory), "c": _body("c")}
    found = disagreements(bodies)
    assert [(d.kind, d.odd) for d in found] == [("version", ["b"]), ("backend", ["b"])]
    assert found[1].text == (
        "1 of 3 instances (b) differs: cache backend memory vs redis on the others"
    )


def test_a_dependency_unhealthy_on_two_of_three_instances_names_both() -> None:
    down = ("postgresql", "unhealthy")
    bodies = {"a": _body("a", database=down), "b": _body("b"), "c": _body("c", database=down)}
    [found] = disagreements(bodies)
    assert (found.kind, found.odd) == ("dependency_unhealthy", ["a", "c"])
    assert found.text == "2 of 3 instances (a, c) report database unhealthy"
    assert json.dumps({"backend": "postgresql", "status": "healthy"}) in found.evidence[-1]


@pytest.mark.parametrize(
    ("odd_body", "signature", "klass"),
    [
        (_body("b", "0.2.0"), "instances_version_skew", "configuration"),
        (_body("b", cache=("memory", "healthy")), "instances_backend_skew", "configuration"),
        ({**_body("b"), "config_fingerprint": "f2"}, "instances_config_skew", "configuration"),
        (
            _body("b", cache=("redis", "degraded")),
            "instance_dependency_slow",
            "dependency_degraded",
        ),
    ],
)
def test_each_kind_of_disagreement_has_its_own_signature_and_class(
    odd_body: dict, signature: str, klass: str
) -> None:
    first = _body("a")
    if "config_fingerprint" in odd_body:  # a build that exposes one exposes it everywhere
        first["config_fingerprint"] = "f1"
    [found] = disagreements({"a": first, "b": odd_body})
    m = match(found.signals, default_catalogue())
    assert (m.signature.id, m.signature.klass) == (signature, klass)
    assert m.values["detail"] == found.text


def test_a_dependency_refused_on_one_instance_is_that_instance_not_connection_refused() -> None:
    down = {
        "backend": "redis",
        "status": "unhealthy",
        "error": {"kind": "refused", "message": "connection refused: [Errno 111]"},
    }
    odd = _body("b")
    odd["checks"]["cache"] = down
    [found] = disagreements({"a": _body("a"), "b": odd})
    assert "health.kind:refused" in found.signals
    assert match(found.signals, default_catalogue()).signature.id == "instance_dependency_down"


def test_a_dependency_slow_in_one_answer_of_an_instance_is_a_blip_not_a_difference() -> None:
    # A latency spike on a loaded host: one of b's answers says degraded, the next healthy.
    b = steadiest([_body("b", cache=SLOW), _body("b")])
    assert disagreements({"a": _body("a"), "b": b}) == []
    # Slow in every answer of b while a is fine: that is b's difference.
    b = steadiest([_body("b", cache=SLOW), _body("b", cache=SLOW)])
    [found] = disagreements({"a": _body("a"), "b": b})
    assert found.kind == "dependency_degraded" and found.odd == ["b"]
