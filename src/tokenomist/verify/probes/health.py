"""``health.ready`` and one ``dependency.<name>`` check per dependency the health body names."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tokenomist.kit.netdiag import classify as net_classify
from tokenomist.verify.probes.signals import (
    ProbeFailed,
    exception_signals,
    quote_response,
    response_signals,
)
from tokenomist.verify.probes.state import Probe, RunState

HEALTH_STATUSES = ("healthy", "degraded", "unhealthy")
HEALTH_DEPENDENCIES = ("database", "cache", "analytics")


async def probe_health(state: RunState) -> str:
    resp, body = await _read_health(state)
    state.reachable = True
    broken = health_contract_problems(resp.status_code, body)
    if not isinstance(body["checks"], dict) or not all(
        isinstance(d, dict) for d in body["checks"].values()
    ):
        raise _contract_failure(resp, broken)
    state.health = body
    for name, dep in body["checks"].items():
        state.dependencies[name] = {
            **dep,
            "threshold_ms": state.config.thresholds.latency_ms(name),
        }
    down = [n for n, d in body["checks"].items() if d.get("status") == "unhealthy"]
    # A 503 naming no unhealthy dependency is a contract break, reported below.
    if (resp.status_code == 503 or body.get("status") == "unhealthy") and (down or not broken):
        subject = down[0] if down else "target"
        dep = body["checks"].get(subject, {})
        raise ProbeFailed(
            f"target unhealthy ({resp.status_code}): {', '.join(down) or '?'} unhealthy",
            signals=_dependency_signals(dep),
            evidence=[_health_quote(resp.status_code, subject, dep)],
            subject=subject,
        )
    if broken:
        raise _contract_failure(resp, broken)
    return f"{body.get('status')} ({resp.status_code})"


async def _read_health(state: RunState) -> tuple[httpx.Response, dict[str, Any]]:
    """GET /health/ready and its body; no answer, or an answer without a health body (an
    edge's page), means the target is unreachable."""
    target = state.config.target
    try:
        resp = await state.client.get("/health/ready")
    except httpx.HTTPError as exc:
        raise ProbeFailed(
            f"target {target} unreachable: {net_classify(exc).message}",
            signals=exception_signals(exc),
            evidence=[f"GET {target}/health/ready raised {type(exc).__name__}: {exc}"],
        ) from exc
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "checks" not in body:
        raise ProbeFailed(
            f"/health/ready answered {resp.status_code} without a health body",
            signals=response_signals(resp),
            evidence=[quote_response("GET", "/health/ready", resp)],
        )
    return resp, body


def _contract_failure(resp: httpx.Response, broken: list[str]) -> ProbeFailed:
    return ProbeFailed(
        f"/health/ready body breaks the DESIGN §4 contract: {'; '.join(broken)}",
        signals=["health.contract", *response_signals(resp)],
        evidence=[quote_response("GET", "/health/ready", resp)],
    )


def dependency_checks(state: RunState) -> list[tuple[str, Probe]]:
    """(check name, probe) for each dependency of the health body; none before it is read."""
    return [
        (f"dependency.{name}", _dependency_probe(name, dep))
        for name, dep in (state.health or {}).get("checks", {}).items()
    ]


def _dependency_probe(name: str, dep: dict[str, Any]) -> Probe:
    async def probe(state: RunState) -> str:
        status = dep.get("status")
        latency = float(dep.get("latency_ms") or 0)
        limit = state.config.thresholds.latency_ms(name)
        quote = _health_quote(200, name, dep)
        if status == "unhealthy":
            err = dep.get("error") or {}
            raise ProbeFailed(
                f"{name} ({dep.get('backend')}) unhealthy: "
                f"{err.get('kind', '?')}: {err.get('message', 'no error given')}",
                signals=_dependency_signals(dep),
                evidence=[quote],
                subject=name,
                data={"latency_ms": latency},
            )
        if status == "degraded" or latency > limit:
            raise ProbeFailed(
                f"{name} ({dep.get('backend')}) {status}: latency {latency:.0f} ms "
                f"(threshold {limit:.0f} ms)",
                signals=[*_dependency_signals(dep), "latency:above_threshold"]
                if latency > limit
                else _dependency_signals(dep),
                evidence=[quote],
                subject=name,
                data={"latency_ms": latency},
            )
        return f"{status}, {latency:.1f} ms (threshold {limit:.0f} ms)"

    return probe


def health_contract_problems(status_code: int, body: dict[str, Any]) -> list[str]:
    """What a /health/ready answer lacks against DESIGN §4 (empty when it conforms): the
    status words, the three dependency checks with status/backend/latency_ms, and 503 exactly
    when unhealthy."""
    problems: list[str] = []
    status = body.get("status")
    if status not in HEALTH_STATUSES:
        problems.append(f"status {status!r} is not one of {', '.join(HEALTH_STATUSES)}")
    elif (status == "unhealthy") != (status_code == 503):
        problems.append(f"status {status} answered with HTTP {status_code}")
    checks = body.get("checks")
    if not isinstance(checks, dict):
        return [*problems, f"checks is {type(checks).__name__}, not an object"]
    for name in HEALTH_DEPENDENCIES:
        dep = checks.get(name)
        if not isinstance(dep, dict):
            problems.append(f"checks.{name} {'missing' if dep is None else 'not an object'}")
            continue
        missing = [k for k in ("status", "backend", "latency_ms") if k not in dep]
        if missing:
            problems.append(f"checks.{name} lacks {', '.join(missing)}")
        elif dep["status"] not in HEALTH_STATUSES:
            problems.append(f"checks.{name}.status {dep['status']!r} is not a health status")
    return problems


def _dependency_signals(dep: dict[str, Any]) -> list[str]:
    out = [f"health.status:{dep.get('status')}"]
    err = dep.get("error")
    if err:
        out.append(f"health.kind:{err.get('kind')}")
        out.append(str(err.get("message")))
    if dep.get("detail"):
        out.append(str(dep["detail"]))
    return out


def _health_quote(status_code: int, name: str, dep: dict[str, Any]) -> str:
    if dep.get("error"):
        field_, value = f"checks.{name}.error", dep["error"]
    else:
        field_, value = f"checks.{name}", dep
    return f"GET /health/ready → {status_code}: {field_} = {json.dumps(value)}"
