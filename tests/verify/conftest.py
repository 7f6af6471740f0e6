"""Real servers (``tokenomist serve`` subprocesses) in faulted configurations for verify tests,
and a TCP proxy living in its own thread's event loop (the test's loop blocks while a
subprocess server starts, and the proxy must keep serving meanwhile)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.servers import ServerProcess
from tests.support.tcpproxy import TcpProxy
from tokenomist.verify import gate
from tokenomist.verify.service import VerifyOptions

SECRET_A = "verify-secret-A-" + "a" * 40
SECRET_B = "verify-secret-B-" + "b" * 40


class ThreadedProxy:
    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = TcpProxy(host, port)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(5)

    def set(self, *, delay_s: float | None = None, drop: bool | None = None) -> None:
        def apply() -> None:
            if delay_s is not None:
                self.proxy.delay_s = delay_s
            if drop is not None:
                self.proxy.drop = drop

        self.loop.call_soon_threadsafe(apply)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


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


def options(target: str, tmp_path: Path, **kw) -> VerifyOptions:
    """Small but complete verification: 2 concurrent golden paths, one retry."""
    limits = kw.pop("thresholds", None) or gate.Thresholds(retries=1, min_samples=3)
    return VerifyOptions(
        target=target,
        concurrency=2,
        thresholds=limits,
        out_dir=tmp_path / "out",
        run_timeout_s=120,
        **kw,
    )


def finding_about(doc: dict, subject: str) -> list[dict]:
    return [f for f in doc["findings"] if f["subject"] == subject]


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own with no tables at all (never migrated)."""
    from tests.conftest import PG_ADMIN_URL, _pg_admin, run_sync

    name = f"tk_empty_{uuid.uuid4().hex[:10]}"
    run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
