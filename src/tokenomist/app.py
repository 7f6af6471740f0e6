"""Application factory. Resources are built in the lifespan and held on ``app.state``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenomist import __version__
from tokenomist.health import endpoints as health_endpoints
from tokenomist.kit.errors import install_error_handlers
from tokenomist.kit.hygiene import clean_params
from tokenomist.kit.logging import RequestIdMiddleware, configure_logging
from tokenomist.kit.metrics import MetricsMiddleware
from tokenomist.kit.openapi import install_docs
from tokenomist.kit.resources import (
    SHUTDOWN_STEP_TIMEOUT_S,
    Resources,
    StartupError,
    close_resources,
    open_resources,
)
from tokenomist.settings import Environment, Settings

log = structlog.get_logger(__name__)


async def _open_logged(settings: Settings) -> Resources:
    try:
        return await open_resources(settings)
    except Exception as exc:
        # StartupError is the one line already; anything else is said in one line too.
        detail = str(exc) if isinstance(exc, StartupError) else (
            f"startup failed: {type(exc).__name__}: {exc}"
        )  # fmt: skip
        log.error("startup.failed", detail=detail)
        raise


async def _start_domains(resources: Resources, started: list[Any]) -> None:
    """Start each domain service in order, appending it to ``started`` once it runs."""
    for module in _domain_lifecycles():
        try:
            await module.start(resources)
        except Exception as exc:
            # The one start-up line operators (and verify's signatures) look for.
            log.error(
                "startup.failed",
                detail=f"startup failed: {module.__name__} did not start: "
                f"{type(exc).__name__}: {exc}",
            )
            raise
        started.append(module)


async def _stop_domains(resources: Resources, started: list[Any]) -> None:
    # One stop failing, or hanging on a dependency gone silent, must not leave the others (and
    # the storage tiers) open: each is bounded and the one that overran is named.
    for module in reversed(started):
        try:
            async with asyncio.timeout(SHUTDOWN_STEP_TIMEOUT_S):
                await module.stop(resources)
        except TimeoutError:
            log.error(
                "shutdown.stop_timeout", module=module.__name__, timeout_s=SHUTDOWN_STEP_TIMEOUT_S
            )
        except Exception:
            log.exception("shutdown.stop_failed", module=module.__name__)


async def drain(resources: Resources) -> None:
    """SIGTERM (kit.server.DrainingServer): readiness turns 503 ``draining`` and new runs and
    WebSockets are refused (503, which the load balancer retries on another instance); each
    domain with a ``drain`` hook then winds down in order (open WebSockets closed 1012 so their
    clients reconnect elsewhere and resume; runs finished, or stopped as ``instance_stopped``
    past ``drain_timeout_s``). The instance keeps answering for at least ``drain_delay_s`` in
    all, so the load balancer's health checks take it out before its port closes; the server
    then stops listening and the lifespan closes everything as on any stop."""
    settings = resources.settings
    started = time.monotonic()
    resources.draining = True
    log.info(
        "shutdown.draining", delay_s=settings.drain_delay_s, timeout_s=settings.drain_timeout_s
    )
    for module in _domain_lifecycles():
        hook = getattr(module, "drain", None)
        if hook is not None:
            try:
                await hook(resources)
            except Exception:
                log.exception("shutdown.drain_failed", module=module.__name__)
    await asyncio.sleep(max(0.0, settings.drain_delay_s - (time.monotonic() - started)))
    log.info("shutdown.drained", duration_s=round(time.monotonic() - started, 2))


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = await _open_logged(settings)
        app.state.resources = resources
        # Domain services (event bus, run manager, ...) start after the storage tiers and stop
        # before them, in reverse order — also when a later one fails to start.
        started: list[Any] = []
        try:
            await _start_domains(resources, started)
            log.info(
                "startup.ready",
                database=resources.engine.dialect.name,
                cache=resources.cache.backend,
                analytics=resources.analytics.backend,
                environment=settings.environment.value,
            )
            yield
        finally:
            await _stop_domains(resources, started)
            await close_resources(resources)

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(
        settings.log_level,
        json=settings.environment in (Environment.staging, Environment.production),
    )
    lifespan = _lifespan(settings)

    # The docs pages are served from packaged assets by install_docs (FastAPI's load a CDN).
    # clean_params: path and query parameters the SQL tier cannot store are a 422 on every
    # route (kit/hygiene.py says why there).
    app = FastAPI(
        title="Tokenomist",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(clean_params)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    _limit_bodies(app, settings)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(QuietStartupFailure, traceback=_debug(settings))

    app.include_router(health_endpoints.router)
    for router in _domain_routers():
        app.include_router(router)
    install_docs(app, MEDIA_OVERRIDES)
    return app


# Answers that are not JSON, which FastAPI cannot see from the endpoints' signatures.
MEDIA_OVERRIDES: dict[tuple[str, str], dict] = {
    ("get", "/api/v1/runs/{run_id}/events"): {
        200: {
            "description": "Server-Sent Events until the run ends: `id` = seq, `event` = "
            "type, `data` = the frame `{type, run_id, seq, ts, data}` (see /api/v1/protocol). "
            "Send `Last-Event-ID` to resume after a seq.",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'id: 1\nevent: agent_started\ndata: {"type": "agent_started", '
                    '"run_id": "…", "seq": 1, "ts": "…", "data": {"agent": "triage"}}\n\n',
                }
            },
        },
        204: {"description": "The caller already has the run's terminal event."},
    },
    ("get", "/metrics"): {
        200: {
            "description": "Prometheus metrics, text exposition format 0.0.4.",
            "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}},
        }
    },
}


def _debug(settings: Settings) -> bool:
    return settings.log_level.upper() == "DEBUG"


class QuietStartupFailure:
    """A failed start-up has said what failed in its one ``startup failed: …`` line; the
    ~145-line traceback Starlette hands the server along with it buries that line, so it is
    dropped unless debugging (``tokenomist serve --debug`` or log level debug)."""

    def __init__(self, app: ASGIApp, traceback: bool = False) -> None:
        self.app = app
        self.traceback = traceback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" or self.traceback:
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {**message, "message": ""}  # the server logs a non-empty one
            await send(message)

        await self.app(scope, receive, send_quietly)


def _limit_bodies(app: FastAPI, settings: Settings) -> None:
    """Every request body is cut at its route's limit while it is read (kit/body_limit.py):
    the ingest routes take ``max_body_bytes``, everything else ``max_api_body_bytes``."""
    from tokenomist.kit.body_limit import BodyLimitMiddleware
    from tokenomist.usage.endpoints import INGEST_PATHS

    routes = dict.fromkeys(INGEST_PATHS, settings.max_body_bytes)
    app.add_middleware(BodyLimitMiddleware, default=settings.max_api_body_bytes, routes=routes)


def _domain_routers() -> list:
    routers: list = []
    # Each domain appends its routers here (imported locally to keep import order simple).
    # --- auth ---
    from tokenomist.auth import endpoints as auth_endpoints

    routers += [auth_endpoints.router, auth_endpoints.api_keys_router]
    # --- usage ---
    from tokenomist.usage import endpoints as usage_endpoints

    routers.append(usage_endpoints.router)
    # --- analyst ---
    from tokenomist.analyst import endpoints as analyst_endpoints

    routers.append(analyst_endpoints.router)
    # --- realtime ---
    from tokenomist.realtime import endpoints as realtime_endpoints

    routers.append(realtime_endpoints.router)
    from tokenomist.discovery import endpoints as discovery_endpoints

    routers.append(discovery_endpoints.router)
    # --- interop ---
    from tokenomist.interop import endpoints as interop_endpoints

    routers.append(interop_endpoints.router)
    # --- alerts ---
    from tokenomist.alerts import endpoints as alerts_endpoints

    routers.append(alerts_endpoints.router)
    # --- web ---
    from tokenomist.web import endpoints as web_endpoints

    routers.append(web_endpoints.router)
    return routers


def _domain_lifecycles() -> list:
    """Modules with ``async start(resources)`` / ``async stop(resources)``."""
    modules: list = []
    # --- realtime ---
    from tokenomist.realtime import lifecycle as realtime_lifecycle

    modules.append(realtime_lifecycle)
    # --- usage ---
    from tokenomist.usage import lifecycle as usage_lifecycle

    modules.append(usage_lifecycle)
    # --- analyst ---
    from tokenomist.analyst import lifecycle as analyst_lifecycle

    modules.append(analyst_lifecycle)
    # --- interop ---
    from tokenomist.interop import lifecycle as interop_lifecycle

    modules.append(interop_lifecycle)
    # --- alerts ---
    from tokenomist.alerts import lifecycle as alerts_lifecycle

    modules.append(alerts_lifecycle)
    return modules
