"""SQL tier: one async engine per process (PostgreSQL via asyncpg, SQLite via aiosqlite).

Who owns a transaction, the one rule: inside a request, the request dependency
(``SessionDep``) does — it commits when the endpoint returns and rolls back when it raises, and
services only ``flush()``. Work that no request owns (a background run, start-up, the CLI, and
the refresh that must make a revocation durable before it answers 401) opens its own unit of
work with ``transaction()``. Nothing else commits; a test keeps it so.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, String, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

log = structlog.get_logger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops tzinfo otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


STATEMENT_TIMEOUT_S = 60.0


def backend_name(url: str) -> str:
    return "postgresql" if make_url(url).get_backend_name().startswith("postgres") else "sqlite"


def build_engine(url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0) -> AsyncEngine:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if backend_name(url) == "postgresql":
        kwargs.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            # command_timeout: a statement on a connection the network went silent on fails
            # within a minute instead of holding its task (and a shutdown) forever.
            connect_args={"timeout": connect_timeout_s, "command_timeout": STATEMENT_TIMEOUT_S},
        )
    else:
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **kwargs)
    if backend_name(url) == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work outside any request: committed when the block ends normally, rolled back
    when it raises. To keep a write and still fail, leave the block first, then raise."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session; commit on success, roll back on any error."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.resources.sessions
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            try:
                await session.rollback()
            except Exception as rollback_error:  # the connection may be what failed
                log.warning("db.rollback_failed", error=str(rollback_error))
            raise


# scope="function": commit before the response is sent, so a client that sees 2xx can
# immediately read what it wrote.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
