"""The process's resources, built in the app lifespan (never at import) and closed there.

Start-up validation: each dependency is opened and pinged within ``startup_timeout_s``; a
required one failing stops start-up with one line naming it, its URL (password masked) and the
real cause. Redis is optional: unreachable at start, the app serves on the in-process fallback
and reports degraded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tokenomist.kit import analytics as analytics_mod
from tokenomist.kit import db
from tokenomist.kit.cache import Cache, MemoryCache, ResilientCache, build_cache
from tokenomist.kit.metrics import Metrics
from tokenomist.kit.netdiag import classify, mask_url
from tokenomist.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")


class StartupError(RuntimeError):
    """One line: dependency, masked URL, cause."""


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cache: Cache
    analytics: analytics_mod.ChdbAnalytics | analytics_mod.ClickHouseAnalytics
    metrics: Metrics
    jwt_secret: str
    started_at: float = field(default_factory=time.monotonic)
    # Domain services attached by the lifespan (event bus, run manager, ...).
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    def org_usage(self, org_id: str) -> analytics_mod.OrgAnalytics:
        return analytics_mod.OrgAnalytics(self.analytics, org_id)


async def _within(name: str, url: str, bound_s: float, step: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(step, timeout=bound_s)
    except TimeoutError as exc:
        raise StartupError(
            f"startup failed: {name} at {mask_url(url)} unreachable: no answer within {bound_s:g}s"
        ) from exc
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(
            f"startup failed: {name} at {mask_url(url)} unreachable: {classify(exc).message}"
        ) from exc


async def open_resources(settings: Settings) -> Resources:
    bound = settings.startup_timeout_s
    try:
        jwt_secret = settings.resolve_jwt_secret()
    except ValueError as exc:
        raise StartupError(f"startup failed: configuration: {exc}") from exc
    if not settings.clickhouse_url or not settings.database_url:  # an embedded tier is used
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"startup failed: data dir {settings.data_dir} unusable: {exc}"
            ) from exc

    db_url = settings.resolved_database_url
    try:
        engine = db.build_engine(
            db_url, pool_size=settings.database_pool_size, connect_timeout_s=bound
        )
    except Exception as exc:  # a malformed URL or a sync driver: configuration, one line
        raise StartupError(
            f"startup failed: SQL database URL {mask_url(db_url)} is not usable: "
            f"{type(exc).__name__}: {exc} (use postgresql+asyncpg://… or sqlite+aiosqlite://…)"
        ) from exc
    analytics = None
    cache: MemoryCache | ResilientCache | None = None
    try:
        await _within(
            "PostgreSQL" if db.backend_name(db_url) == "postgresql" else "SQLite",
            db_url,
            bound,
            db.ping(engine),
        )
        if settings.auto_migrate:
            from tokenomist.kit.migrations import upgrade

            await _within("SQL migrations", db_url, max(bound, 60), upgrade(engine))

        ch_url = settings.clickhouse_url or f"chdb://{settings.chdb_path}"
        ch_name = "ClickHouse" if settings.clickhouse_url else "chDB"
        analytics = await _within(
            ch_name,
            ch_url,
            bound,
            analytics_mod.build_analytics(
                settings.clickhouse_url, settings.chdb_path, settings.analytics_database, bound
            ),
        )
        await _within(ch_name, ch_url, max(bound, 60), analytics_mod.migrate(analytics))

        try:
            cache = build_cache(settings.redis_url, settings.cache_prefix, min(bound, 2.0))
        except ValueError as exc:  # a malformed URL is configuration, not an outage
            raise StartupError(
                f"startup failed: Redis URL {mask_url(settings.redis_url)} is not usable: {exc}"
            ) from exc
        try:
            await asyncio.wait_for(cache.ping(), timeout=bound)
        except Exception as exc:
            line = f"Redis at {mask_url(settings.redis_url)} unreachable: {classify(exc).message}"
            if settings.startup_require_cache:
                raise StartupError(f"startup failed: {line}") from exc
            log.warning("startup.cache_degraded", detail=line + "; serving on in-process cache")
    except BaseException:
        if cache is not None:
            await cache.close()
        if analytics is not None:
            await analytics.close()
        await engine.dispose()
        raise

    return Resources(
        settings=settings,
        engine=engine,
        sessions=db.session_factory(engine),
        cache=cache,
        analytics=analytics,
        metrics=Metrics(),
        jwt_secret=jwt_secret,
    )


async def close_resources(res: Resources) -> None:
    """Close every tier even when one of them fails to close (each failure is logged)."""
    for name, close in (
        ("cache", res.cache.close),
        ("analytics", res.analytics.close),
        ("database", res.engine.dispose),
    ):
        try:
            await close()
        except Exception:
            log.exception("shutdown.close_failed", dependency=name)
