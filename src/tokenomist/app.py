"""Application factory. Resources are built in the lifespan and held on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI

from tokenomist import __version__
from tokenomist.health import endpoints as health_endpoints
from tokenomist.kit.errors import install_error_handlers
from tokenomist.kit.hygiene import clean_params
from tokenomist.kit.logging import RequestIdMiddleware, configure_logging
from tokenomist.kit.metrics import MetricsMiddleware
from tokenomist.kit.resources import StartupError, close_resources, open_resources
from tokenomist.settings import Environment, Settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(
        settings.log_level,
        json=settings.environment in (Environment.staging, Environment.production),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            resources = await open_resources(settings)
        except StartupError as exc:
            log.error("startup.failed", detail=str(exc))
            raise
        app.state.resources = resources
        # Domain services (event bus, run manager, ...) start after the storage tiers and stop
        # before them, in reverse order — also when a later one fails to start.
        started = []
        try:
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
            log.info(
                "startup.ready",
                database=resources.engine.dialect.name,
                cache=resources.cache.backend,
                analytics=resources.analytics.backend,
                environment=settings.environment.value,
            )
            yield
        finally:
            # One stop failing must not leave the others (and the storage tiers) open.
            for module in reversed(started):
                try:
                    await module.stop(resources)
                except Exception:
                    log.exception("shutdown.stop_failed", module=module.__name__)
            await close_resources(resources)

    # clean_params: path and query parameters the SQL tier cannot store are a 422 on every
    # route (kit/hygiene.py says why there).
    app = FastAPI(
        title="Tokenomist",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(clean_params)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health_endpoints.router)
    for router in _domain_routers():
        app.include_router(router)
    return app


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
    return modules
