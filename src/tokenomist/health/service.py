"""Readiness of this instance: the three storage tiers, checked concurrently."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from tokenomist import __version__
from tokenomist.health.checks import CheckResult, HealthStatus, overall, run_check
from tokenomist.health.roundtrip import database_round_trip
from tokenomist.kit import analytics as analytics_mod
from tokenomist.kit import db
from tokenomist.kit.migrations import schema_state
from tokenomist.kit.netdiag import Cause
from tokenomist.kit.resources import Resources

REQUIRED = {"database", "analytics"}
# The dependency_up gauge: 1 up, 0.5 degraded, 0 down.
UP = {HealthStatus.healthy: 1.0, HealthStatus.degraded: 0.5, HealthStatus.unhealthy: 0.0}


async def check_all(res: Resources) -> dict[str, CheckResult]:
    s = res.settings
    timeout = s.health_check_timeout_s

    def threshold(name: str) -> float:
        return s.health_thresholds_ms.get(name, s.health_latency_threshold_ms)

    database, cache, analytics = await asyncio.gather(
        run_check(
            "database",
            db.backend_name(res.database_url),
            lambda: database_round_trip(res.engine, setup_s=s.startup_timeout_s, bound_s=timeout),
            threshold_ms=threshold("database"),
            timeout_s=timeout,
            setup_s=s.startup_timeout_s,
        ),
        run_check(
            "cache",
            res.cache.backend,
            res.cache.ping,
            threshold_ms=threshold("cache"),
            timeout_s=timeout,
        ),
        run_check(
            "analytics",
            res.analytics.backend,
            res.analytics.ping,
            threshold_ms=threshold("analytics"),
            busy=getattr(res.analytics, "busy_detail", None),
            timeout_s=timeout,
        ),
    )
    database, analytics = await asyncio.gather(
        _with_sql_schema(res, database), _with_analytics_schema(res, analytics)
    )
    results = {"database": database, "cache": cache, "analytics": analytics}
    for r in results.values():
        res.metrics.dependency_latency.labels(r.name, r.backend).observe(r.latency_ms / 1000)
        up = UP[r.status]
        res.metrics.dependency_up.labels(r.name, r.backend).set(up)
    return results


async def _with_sql_schema(res: Resources, result: CheckResult) -> CheckResult:
    """A database that answers but lacks the code's migrations fails every request: that is
    a configuration problem (kind ``schema``), not an outage and not a product bug."""
    if result.status is HealthStatus.unhealthy:
        return result
    try:
        state = await asyncio.wait_for(
            schema_state(res.engine), res.settings.health_check_timeout_s + 5
        )
    except Exception:  # the ping answered; a schema read that fails says nothing more here
        return result
    schema = {"current": state.current, "head": state.head}
    problem = state.problem()
    if problem is None:
        return replace(result, schema=schema)
    return replace(
        result, status=HealthStatus.unhealthy, error=Cause("schema", problem), schema=schema
    )


async def _with_analytics_schema(res: Resources, result: CheckResult) -> CheckResult:
    if result.status is HealthStatus.unhealthy:
        return result
    head = max(version for version, _, _ in analytics_mod.SCHEMA_STEPS)
    try:
        rows = await asyncio.wait_for(
            res.analytics.query("SELECT max(version) AS v FROM schema_migrations"),
            res.settings.health_check_timeout_s,
        )
        current = int(rows[0]["v"]) if rows else 0
    except Exception:
        return result
    schema = {"current": current, "head": head}
    if current >= head:
        return replace(result, schema=schema)
    problem = f"analytics schema at step {current}, code needs step {head}; restart to apply it"
    return replace(
        result, status=HealthStatus.unhealthy, error=Cause("schema", problem), schema=schema
    )


async def readiness(res: Resources) -> tuple[int, dict[str, Any]]:
    results = await check_all(res)
    status = overall(results, REQUIRED)
    body = {
        # Draining (SIGTERM received): the dependencies may be fine, but this instance is
        # leaving; 503 takes it out of the load balancer's rotation.
        "status": "draining" if res.draining else status.value,
        "version": __version__,
        "environment": res.settings.environment.value,
        "uptime_s": round(time.monotonic() - res.started_at, 1),
        "instance_id": res.instance_id,
        "checks": {name: r.as_dict() for name, r in results.items()},
    }
    return (503 if status is HealthStatus.unhealthy or res.draining else 200), body
