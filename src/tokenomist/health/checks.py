"""Dependency checks: each returns status, backend, latency and, on failure, the real cause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tokenomist.health.roundtrip import NoConnection
from tokenomist.kit.netdiag import Cause, classify


class HealthStatus(StrEnum):
    healthy = "healthy"
    degraded = "degraded"
    unhealthy = "unhealthy"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: HealthStatus
    backend: str
    latency_ms: float
    error: Cause | None = None
    detail: str | None = None
    # The schema version the code needs and the one the store has: {"current", "head"}.
    schema: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status.value,
            "backend": self.backend,
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.error is not None:
            out["error"] = self.error.as_dict()
        if self.detail:
            out["detail"] = self.detail
        if self.schema is not None:
            out["schema"] = self.schema
        return out


async def run_check(
    name: str,
    backend: str,
    probe: Callable[[], Awaitable[Any]],
    *,
    threshold_ms: float,
    timeout_s: float,
    busy: Callable[[], str | None] | None = None,
    setup_s: float = 0.0,
) -> CheckResult:
    """``threshold_ms`` is "slow" (degraded, with the figure); ``timeout_s`` is "down". A probe
    that returns a number has timed its own round trip (apart from connection set-up, which
    ``setup_s`` bounds on top of ``timeout_s``): that number is the latency reported.

    ``busy`` tells why a slow answer is not an outage (e.g. an embedded engine that runs
    one query at a time is working on a long one): a timeout then reads degraded."""
    start = time.perf_counter()
    try:
        measured = await asyncio.wait_for(probe(), timeout=timeout_s + setup_s)
    except Exception as exc:
        # "No answer within N s" reports N, not N plus however long cancelling took.
        latency = min((time.perf_counter() - start) * 1000, (timeout_s + setup_s) * 1000)
        cause = classify(exc)
        if isinstance(exc, NoConnection):
            cause = Cause("timeout", str(exc))
        elif isinstance(exc, TimeoutError):
            why_busy = busy() if busy is not None else None
            if why_busy:
                return CheckResult(
                    name,
                    HealthStatus.degraded,
                    backend,
                    latency,
                    detail=f"no answer within {timeout_s:g}s: {why_busy}",
                )
            cause = Cause("timeout", f"no answer within {timeout_s:g}s")
        return CheckResult(name, HealthStatus.unhealthy, backend, latency, cause)
    latency = (time.perf_counter() - start) * 1000
    if isinstance(measured, int | float) and not isinstance(measured, bool):
        latency = float(measured)
    if latency > threshold_ms:
        return CheckResult(
            name,
            HealthStatus.degraded,
            backend,
            latency,
            detail=f"answers slowly: {latency:.0f} ms per round trip, above the "
            f"{threshold_ms:.0f} ms threshold (down after {timeout_s:g}s)",
        )
    return CheckResult(name, HealthStatus.healthy, backend, latency)


def overall(results: dict[str, CheckResult], required: set[str]) -> HealthStatus:
    """A required dependency down → unhealthy; anything else off → degraded."""
    if any(results[n].status is HealthStatus.unhealthy for n in required if n in results):
        return HealthStatus.unhealthy
    if any(r.status is not HealthStatus.healthy for r in results.values()):
        return HealthStatus.degraded
    return HealthStatus.healthy
