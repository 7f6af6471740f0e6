"""The process's resources, built in the app lifespan (never at import) and closed there.

``Resources`` is the app's typed state: the storage tiers, then the domain services each
domain's lifecycle starts (bus, pricer, run manager, LLM, run control). Endpoints reach it
through ``ResourcesDep``, never through ``app.state``. The domain types are named for the type
checker only: at run time this lower layer imports nothing above it.

Start-up validation: each dependency is opened and pinged within ``startup_timeout_s``; a
required one failing stops start-up with one line naming it, its URL (password masked) and the
real cause. Redis is optional: unreachable at start, the app serves on the in-process fallback
and reports degraded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, TypeVar

import structlog
from fastapi import Depends
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from tokenomist.kit import analytics as analytics_mod
from tokenomist.kit import db
from tokenomist.kit.cache import Cache, MemoryCache, ResilientCache, build_cache
from tokenomist.kit.errors import DependencyDown
from tokenomist.kit.metrics import Metrics
from tokenomist.kit.netdiag import classify, mask_url
from tokenomist.settings import Settings

if TYPE_CHECKING:
    from tokenomist.alerts.lifecycle import AlertEngine
    from tokenomist.analyst.llm.base import LLMProvider
    from tokenomist.analyst.service import RunManager
    from tokenomist.interop.mcp import McpService
    from tokenomist.realtime.bus import EventBus
    from tokenomist.realtime.connection import Connection
    from tokenomist.realtime.limits import ConnectionSlots
    from tokenomist.realtime.notify import Notifier
    from tokenomist.realtime.runs import RunControl
    from tokenomist.usage.pricing import Pricer

log = structlog.get_logger(__name__)
T = TypeVar("T")
# A bound on each step of a shutdown (a domain's stop, a tier's close): a dependency gone
# silent must not keep the process from exiting, and the one that overran is logged by name.
SHUTDOWN_STEP_TIMEOUT_S = 15.0


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
    # This process among the instances sharing the tiers (health body, connection_established,
    # the heartbeat that tells other instances it is alive).
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Domain services: each is set by its domain's lifecycle ``start`` and cleared by ``stop``
    # (realtime: bus; usage: pricer; analyst: run_manager, llm, runs). Read them through the
    # ``require_*`` accessors, which answer 503 naming the service while it is not running.
    bus: EventBus | None = None
    pricer: Pricer | None = None
    run_manager: RunManager | None = None
    llm: LLMProvider | None = None
    runs: RunControl | None = None
    ws_slots: ConnectionSlots | None = None  # this instance's open sockets per user
    mcp: McpService | None = None  # interop: the MCP server's session manager
    alerts: AlertEngine | None = None  # alerts: the budget evaluator and delivery loop
    notifier: Notifier | None = None  # realtime: org-wide frames (alert) to open sockets
    # Set on SIGTERM (app.drain): readiness answers 503 "draining", new runs and WebSockets are
    # refused with 503 so the load balancer sends them to another instance.
    draining: bool = False
    sockets: set[Connection] = field(default_factory=set)  # realtime: this instance's open /ws

    def refuse_if_draining(self, what: str) -> None:
        if self.draining:
            raise DependencyDown(
                f"this instance is draining (shutting down) and takes no new {what}; retry, "
                "and the load balancer sends it to another instance",
                code="draining",
            )

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    def require_bus(self) -> EventBus:
        return _running(self.bus, "the run event bus")

    def require_pricer(self) -> Pricer:
        return _running(self.pricer, "the pricer")

    def require_run_manager(self) -> RunManager:
        return _running(self.run_manager, "the analyst", "analyst_down")

    def require_llm(self) -> LLMProvider:
        return _running(self.llm, "the analyst's language model")

    def require_runs(self) -> RunControl:
        return _running(self.runs, "the analyst", "analyst_down")

    def org_usage(self, org_id: str) -> analytics_mod.OrgAnalytics:
        return analytics_mod.OrgAnalytics(self.analytics, org_id)


def _running(service: T | None, what: str, code: str = "service_not_running") -> T:
    if service is None:
        raise DependencyDown(f"{what} is not running on this server", code=code)
    return service


def get_resources(conn: HTTPConnection) -> Resources:
    """The one reader of ``app.state`` for requests and WebSockets alike."""
    resources: Resources = conn.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def _within(name: str, url: str, bound_s: float, step: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(step, timeout=bound_s)
    except TimeoutError as exc:
        raise StartupError(
            f"startup failed: {name} at {mask_url(url)} {await _silent_or_slow(url, bound_s)}"
        ) from exc
    except StartupError:
        raise
    except Exception as exc:
        raise StartupError(f"startup failed: {name} at {mask_url(url)} {_said(exc)}") from exc


def _said(exc: BaseException) -> str:
    """What the dependency said, worded by kind: one that answered and refused the
    credentials (or the TLS handshake) was reachable; calling it "unreachable" sends the
    operator to the network instead of the password."""
    cause = classify(exc)
    return cause.message if cause.kind in ("auth", "tls") else f"unreachable: {cause.message}"


async def postgres_answers_in(host: str, port: int, bound_s: float) -> float | None:
    """Milliseconds PostgreSQL takes to answer one protocol message (an SSLRequest, answered
    with one byte), or None when it does not answer within ``bound_s``. Tells a slow server
    from a silent one when a whole connection did not fit the start-up bound."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), bound_s)
    except (OSError, TimeoutError):
        return None
    try:
        start = time.perf_counter()
        writer.write((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(1), bound_s)
        return (time.perf_counter() - start) * 1000 if reply in (b"S", b"N") else None
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()


async def _silent_or_slow(url: str, bound_s: float) -> str:
    """A step that did not finish in time: a PostgreSQL that answers one protocol message is
    slow, not unreachable, and the fix differs (the network path or the bound, not the host)."""
    try:
        parsed = make_url(url)
    except Exception:  # a chdb:// path or an http URL: nothing protocol-level to ask
        return f"does not answer: no answer within {bound_s:g}s"
    if parsed.get_backend_name().startswith("postgres"):
        ms = await postgres_answers_in(parsed.host or "127.0.0.1", parsed.port or 5432, bound_s)
        if ms is not None:
            return (
                f"answers slowly ({ms:.0f} ms per round trip): start-up did not finish within "
                f"{bound_s:g}s; fix the network path or raise TOKENOMIST_STARTUP_TIMEOUT_S"
            )
    return f"does not answer: no answer within {bound_s:g}s"


async def _sql_schema(settings: Settings, engine: AsyncEngine, url: str, bound: float) -> None:
    """Migrate when allowed; then the database must be at the code's Alembic head, or start-up
    stops with one line saying so (not later, inside the first domain query)."""
    from tokenomist.kit.migrations import schema_state, upgrade

    name = "PostgreSQL" if db.backend_name(url) == "postgresql" else "SQLite"
    if settings.auto_migrate:
        await _within("SQL migrations", url, max(bound, 60), upgrade(engine))
    state = await _within(name, url, bound, schema_state(engine))
    problem = state.problem()
    if problem is not None:
        raise StartupError(f"startup failed: {name} at {mask_url(url)}: {problem}")


def _configuration(settings: Settings) -> str:
    """The JWT secret, and the data dir when an embedded tier needs it: configuration errors."""
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
    return jwt_secret


def _sql_engine(settings: Settings, db_url: str, bound: float) -> AsyncEngine:
    try:
        return db.build_engine(
            db_url, pool_size=settings.database_pool_size, connect_timeout_s=bound
        )
    except Exception as exc:  # a malformed URL or a sync driver: configuration, one line
        raise StartupError(
            f"startup failed: SQL database URL {mask_url(db_url)} is not usable: "
            f"{type(exc).__name__}: {exc} (use postgresql+asyncpg://… or sqlite+aiosqlite://…)"
        ) from exc


async def _open_sql(settings: Settings, engine: AsyncEngine, db_url: str, bound: float) -> None:
    await _within(
        "PostgreSQL" if db.backend_name(db_url) == "postgresql" else "SQLite",
        db_url,
        bound,
        db.ping(engine),
    )
    await _sql_schema(settings, engine, db_url, bound)


def _analytics_target(settings: Settings) -> tuple[str, str]:
    """The analytics tier's name and URL, as startup errors name them."""
    if settings.clickhouse_url:
        return "ClickHouse", settings.clickhouse_url
    return "chDB", f"chdb://{settings.chdb_path}"


def _build_cache(settings: Settings, bound: float) -> MemoryCache | ResilientCache:
    try:
        return build_cache(settings.redis_url, settings.cache_prefix, min(bound, 2.0))
    except ValueError as exc:  # a malformed URL is configuration, not an outage
        raise StartupError(
            f"startup failed: Redis URL {mask_url(settings.redis_url)} is not usable: {exc}"
        ) from exc


async def _ping_cache(
    settings: Settings, cache: MemoryCache | ResilientCache, bound: float
) -> None:
    """An unreachable Redis fails startup only when the cache is required; else degrade."""
    try:
        await asyncio.wait_for(cache.ping(), timeout=bound)
    except Exception as exc:
        line = f"Redis at {mask_url(settings.redis_url)} {_said(exc)}"
        if settings.startup_require_cache:
            raise StartupError(f"startup failed: {line}") from exc
        log.warning("startup.cache_degraded", detail=line + "; serving on in-process cache")


async def open_resources(settings: Settings) -> Resources:
    """Open the tiers in order (SQL, analytics, cache); on any failure close what was opened."""
    bound = settings.startup_timeout_s
    jwt_secret = _configuration(settings)
    db_url = settings.resolved_database_url
    engine = _sql_engine(settings, db_url, bound)
    analytics = None
    cache: MemoryCache | ResilientCache | None = None
    try:
        await _open_sql(settings, engine, db_url, bound)
        ch_name, ch_url = _analytics_target(settings)
        analytics = await _within(
            ch_name,
            ch_url,
            bound,
            analytics_mod.build_analytics(
                settings.clickhouse_url,
                settings.chdb_path,
                settings.analytics_database,
                bound,
                workers=settings.analytics_workers,
                memo_bytes=int(settings.analytics_memo_mb * 2**20),
            ),
        )
        await _within(ch_name, ch_url, max(bound, 60), analytics_mod.migrate(analytics))
        cache = _build_cache(settings, bound)
        await _ping_cache(settings, cache, bound)
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
            async with asyncio.timeout(SHUTDOWN_STEP_TIMEOUT_S):
                await close()
        except TimeoutError:
            log.error("shutdown.close_timeout", dependency=name, timeout_s=SHUTDOWN_STEP_TIMEOUT_S)
        except Exception:
            log.exception("shutdown.close_failed", dependency=name)
