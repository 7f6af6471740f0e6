"""The one ordered table of checks, and the runner that walks it.

Every row names a check, its kind, its probe and what it needs from the checks before it
(``Need``). A row whose need does not hold is recorded as skipped with the need's reason (so a
report always lists every check it would have run); otherwise its probe runs, retried
``Thresholds.retries`` times when the row allows, every attempt recorded so a pass after a
failure is visible as flaky.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tokenomist.verify.probes import auth, health, instances, runs, websocket
from tokenomist.verify.probes.signals import ProbeFailed, ProbeSkipped, exception_signals
from tokenomist.verify.probes.state import Probe, ProbeConfig, RunState
from tokenomist.verify.schemas import Check


@dataclass(frozen=True)
class Need:
    holds: Callable[[RunState], bool]
    reason: str  # the skipped check's message when it does not hold


@dataclass(frozen=True)
class CheckSpec:
    name: str
    kind: str
    probe: Probe | None = None
    retry: bool = True
    needs: tuple[Need, ...] = ()
    # Whether the row belongs to this run at all (e.g. auth.provided_token only with --token).
    applies: Callable[[RunState], bool] = lambda state: True
    # Rows known only at run time, one check each (a dependency.<name> per health check).
    expand: Callable[[RunState], list[tuple[str, Probe]]] | None = None

    def instances(self, state: RunState) -> list[tuple[str, Probe]]:
        if self.expand is not None:
            return self.expand(state)
        assert self.probe is not None, f"check {self.name} has neither probe nor expand"
        return [(self.name, self.probe)]


REACHABLE = Need(lambda state: state.reachable, "target unreachable at start")
LOGGED_IN = Need(lambda state: state.logged_in, "no access token (auth.login failed)")
SIGNED_IN = (REACHABLE, LOGGED_IN)

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("health.ready", "health", health.probe_health, retry=False),
    CheckSpec(
        "dependency.<name>",
        "dependency",
        retry=False,
        needs=(REACHABLE,),
        expand=health.dependency_checks,
    ),
    # Not retried: a second sample of the same instances says the same thing.
    CheckSpec("instances", "instances", instances.probe_instances, retry=False, needs=(REACHABLE,)),
    CheckSpec("auth.login", "auth", auth.probe_login, needs=(REACHABLE,)),
    CheckSpec("auth.validate", "auth", auth.probe_validate, needs=SIGNED_IN),
    CheckSpec("auth.validate_rejects_invalid", "auth", auth.probe_validate_bad, needs=SIGNED_IN),
    CheckSpec(
        "auth.provided_token",
        "auth",
        auth.probe_provided_token,
        needs=SIGNED_IN,
        applies=lambda state: bool(state.config.token),
    ),
    CheckSpec("ws.handshake_accepts_valid_token", "ws", websocket.probe_ws_accept, needs=SIGNED_IN),
    CheckSpec(
        "ws.handshake_refuses_invalid_token", "ws", websocket.probe_ws_refuse, needs=SIGNED_IN
    ),
    CheckSpec("golden_path", "golden_path", runs.probe_golden_path, needs=SIGNED_IN),
    CheckSpec("golden_path.concurrent", "concurrency", runs.probe_concurrent, needs=SIGNED_IN),
    CheckSpec("golden_path.timing", "golden_path", runs.probe_timing, retry=False, needs=SIGNED_IN),
    CheckSpec("isolation", "isolation", runs.probe_isolation, needs=SIGNED_IN),
    CheckSpec("resume", "resume", runs.probe_resume, needs=SIGNED_IN),
)


async def run_checks(config: ProbeConfig) -> RunState:
    """Walk ``CHECKS`` in order against ``config.target``; the state holds the checks."""
    state = RunState(config)
    async with httpx.AsyncClient(base_url=config.target, timeout=config.request_timeout_s) as http:
        state.http = http
        for spec in CHECKS:
            if not spec.applies(state):
                continue
            unmet = next((n for n in spec.needs if not n.holds(state)), None)
            for name, probe in spec.instances(state):
                if unmet is not None:
                    state.checks.append(Check(name, spec.kind, "skipped", 0.0, unmet.reason))
                else:
                    await _run_check(state, name, spec.kind, probe, retry=spec.retry)
        state.http = None
    return state


async def _run_check(
    state: RunState, name: str, kind: str, probe: Probe, *, retry: bool = True
) -> Check:
    attempts: list[bool] = []
    tries = 1 + (state.config.thresholds.retries if retry else 0)
    result: Check | None = None
    for _ in range(tries):
        result = await _attempt(state, name, kind, probe)
        if result.status == "skipped":
            break
        attempts.append(result.status == "passed")
        if result.status == "passed":
            break
    assert result is not None
    result.attempts = attempts
    state.checks.append(result)
    return result


async def _attempt(state: RunState, name: str, kind: str, probe: Probe) -> Check:
    start = time.perf_counter()
    try:
        message = await probe(state)
    except ProbeSkipped as skip:
        return Check(name, kind, "skipped", 0.0, str(skip))
    except ProbeFailed as f:
        ms = (time.perf_counter() - start) * 1000
        return Check(
            name, kind, "failed", ms, f.message, f.subject, f.signals, f.evidence, data=f.data
        )
    except Exception as exc:  # an unexpected error of the target, classified
        ms = (time.perf_counter() - start) * 1000
        text = f"{type(exc).__name__}: {exc}"
        return Check(name, kind, "failed", ms, text, "target", exception_signals(exc), [text])
    ms = (time.perf_counter() - start) * 1000
    return Check(name, kind, "passed", ms, message, data=state.measured.pop(name, {}))
