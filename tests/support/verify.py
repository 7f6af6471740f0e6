"""Helpers for the verify suites: the servers' JWT secrets, a TCP proxy living in its own
thread's event loop (the test's loop blocks while a subprocess server starts, and the proxy must
keep serving meanwhile), verification options and report lookups."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

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
