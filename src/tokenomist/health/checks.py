"""Dependency checks: each returns status, backend, latency and, on failure, the real cause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
        return out


async def run_check(
    name: str,
    backend: str,
    probe: Callable[[], Awaitable[Any]],
    *,
    threshold_ms: float,
    timeout_s: float,
    busy: Callable[[], str | None] | None = None,
) -> CheckResult:
    """``busy`` tells why a slow answer is not an outage (e.g. an embedded engine that runs
    one query at a time is working on a long one): a timeout then reads degraded."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=timeout_s)
    except Exception as exc:
        latency = (time.perf_counter() - start) * 1000
        cause = classify(exc)
        if isinstance(exc, TimeoutError):
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
    if latency > threshold_ms:
        return CheckResult(
            name,
            HealthStatus.degraded,
            backend,
            latency,
            detail=f"latency {latency:.0f} ms above threshold {threshold_ms:.0f} ms",
        )
    return CheckResult(name, HealthStatus.healthy, backend, latency)


def overall(results: dict[str, CheckResult], required: set[str]) -> HealthStatus:
    """A required dependency down → unhealthy; anything else off → degraded."""
    if any(results[n].status is HealthStatus.unhealthy for n in required if n in results):
        return HealthStatus.unhealthy
    if any(r.status is not HealthStatus.healthy for r in results.values()):
        return HealthStatus.degraded
    return HealthStatus.healthy
