"""Real servers (``tokenomist serve`` subprocesses) in faulted configurations for verify tests,
threaded TCP proxies in front of them, and an empty PostgreSQL database. Helpers are in
tests/support/verify.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.env import PG_ADMIN_URL, pg_admin, run_sync
from tests.support.servers import ServerProcess
from tests.support.verify import SECRET_A, ThreadedProxy


@pytest.fixture
def tcp_proxy() -> Iterator:
    made: list[ThreadedProxy] = []

    def _make(host: str, port: int) -> ThreadedProxy:
        p = ThreadedProxy(host, port)
        made.append(p)
        return p

    yield _make
    for p in made:
        p.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator:
    """Start ``tokenomist serve`` subprocesses; every one is stopped at teardown."""
    started: list[ServerProcess] = []
    counter = iter(range(1000))

    def _start(
        env: dict[str, str] | None = None, *, ready: bool = True, port: int | None = None
    ) -> ServerProcess:
        data_dir = tmp_path / f"server-{next(counter)}"
        full = {"TOKENOMIST_JWT_SECRET": SECRET_A, **(env or {})}
        srv = ServerProcess(full, data_dir, port=port)
        started.append(srv)
        if ready:
            srv.wait_ready(90)
        return srv

    yield _start
    for srv in started:
        with contextlib.suppress(Exception):
            srv.stop()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own with no tables at all (never migrated)."""
    name = f"tk_empty_{uuid.uuid4().hex[:10]}"
    run_sync(pg_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    run_sync(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
