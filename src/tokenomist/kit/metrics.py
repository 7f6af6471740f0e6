"""Prometheus metrics, one registry per app (so several apps can live in one test process)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "tokenomist_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "tokenomist_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=r,
        )
        self.dependency_latency = Histogram(
            "tokenomist_dependency_check_duration_seconds",
            "Dependency check latency",
            ["dependency", "backend"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.dependency_up = Gauge(
            "tokenomist_dependency_up",
            "1 healthy, 0.5 degraded, 0 unhealthy",
            ["dependency", "backend"],
            registry=r,
        )
        self.ws_connections = Gauge(
            "tokenomist_ws_connections", "Open WebSocket connections", registry=r
        )
        self.runs = Counter("tokenomist_runs_total", "Analyst runs", ["status"], registry=r)
        self.ingested_rows = Counter(
            "tokenomist_ingested_rows_total", "Usage rows ingested", ["outcome"], registry=r
        )


class MetricsMiddleware:
    """Counts and times HTTP requests into the app's registry (built in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._record(scope, status, time.perf_counter() - start)

    @staticmethod
    def _record(scope: Scope, status: int, elapsed_s: float) -> None:
        resources = getattr(scope["app"].state, "resources", None)
        if resources is None:
            return
        metrics: Metrics = resources.metrics
        path = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "")
        metrics.http_requests.labels(method, path, str(status)).inc()
        metrics.http_latency.labels(method, path).observe(elapsed_s)
