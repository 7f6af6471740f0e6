"""Shared fixtures: real PostgreSQL and Redis (skipped with a reason locally when absent,
required under CI=true), one chDB dir per test process, settings and live servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as sync_redis
from sqlalchemy.engine import make_url

from tests.support.env import IN_CI, PG_ADMIN_URL, REDIS_URL, TEST_JWT_SECRET, pg_admin, run_sync
from tests.support.servers import LiveServer, live_server
from tokenomist.settings import Environment, Settings


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} unavailable: {type(exc).__name__}: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (migrated by the app), dropped after."""
    name = f"tk_test_{uuid.uuid4().hex[:10]}"
    try:
        run_sync(pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable(f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()}", exc)
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    run_sync(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = sync_redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (parallel-safe)."""
    prefix = f"tk-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = sync_redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chDB allows one data path per process: every in-process app shares this one and
    isolates itself with its own analytics database."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["memory", "redis"])
def cache_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_settings(tmp_path: Path, chdb_dir: Path, request: pytest.FixtureRequest):
    """Settings for an in-process app; ``sql``/``cache`` pick real backends by name."""

    def _make(sql: str = "sqlite", cache: str = "memory", **overrides) -> Settings:
        values: dict = {
            "environment": Environment.test,
            "data_dir": tmp_path / "data",
            "chdb_dir": chdb_dir,
            "analytics_database": f"t_{uuid.uuid4().hex[:12]}",
            "jwt_secret": TEST_JWT_SECRET,
        }
        if sql == "postgresql":
            values["database_url"] = request.getfixturevalue("pg_url")
        if cache == "redis":
            values["redis_url"] = request.getfixturevalue("redis_url")
            values["cache_prefix"] = request.getfixturevalue("redis_prefix")
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return _make


@pytest.fixture
async def server(make_settings, sql_backend: str) -> AsyncIterator[LiveServer]:
    """The app under uvicorn on a free port, on each SQL backend."""
    async with live_server(make_settings(sql=sql_backend)) as srv:
        yield srv


@pytest.fixture
async def embedded_server(make_settings) -> AsyncIterator[LiveServer]:
    """The app on the embedded defaults only (SQLite, memory cache, chDB)."""
    async with live_server(make_settings()) as srv:
        yield srv


STAGING_DIR = Path(__file__).parent / "staging"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The staging suite checks a deployment (`tokenomist verify --suite tests/staging`, or
    `pytest tests/staging --target URL`); without a target it is not collected at all, so the
    unit/integration run reports no skips for it. (tests/verify runs it against a live server.)"""
    if collection_path == STAGING_DIR or STAGING_DIR in collection_path.parents:
        target = config.getoption("--target", default=None) or os.environ.get(
            "TOKENOMIST_VERIFY_TARGET"
        )
        return None if target else True
    return None
