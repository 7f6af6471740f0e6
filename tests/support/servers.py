"""Real servers for tests: the app under uvicorn in this event loop, or in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import uvicorn

from tokenomist.app import create_app
from tokenomist.kit.server import uvicorn_config
from tokenomist.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        # The same protocol and limits as `tokenomist serve` (kit/server.py).
        config = uvicorn_config(self.app, settings, host="127.0.0.1", port=self.port, lifespan="on")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task | None = None

    @property
    def resources(self):
        return self.app.state.resources

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 60
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises the start-up error
                raise RuntimeError("server exited during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start within 60 s")
            await asyncio.sleep(0.02)

    async def stop(self, timeout_s: float = 90) -> None:
        self.server.should_exit = True
        if self.task is None:
            return
        done, _ = await asyncio.wait({self.task}, timeout=timeout_s)
        if done:
            self.task.result()
            return
        # A stop that hangs is a defect of its own: say where every task is waiting.
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(limit=8, file=stacks)
        self.server.force_exit = True
        hung = f"server did not stop within {timeout_s}s; tasks:\n{stacks.getvalue()}"
        raise AssertionError(hung)


@contextlib.asynccontextmanager
async def serving(app, port: int) -> AsyncIterator[None]:
    """A plain ASGI app (a fake external service) under uvicorn on ``port`` for the block."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def live_server(settings: Settings, port: int | None = None) -> AsyncIterator[LiveServer]:
    server = LiveServer(settings, port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class ServerProcess:
    """``tokenomist serve`` in a subprocess, with its own env and data dir."""

    def __init__(self, env: dict[str, str], data_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "TOKENOMIST_ENVIRONMENT": "test",
            "TOKENOMIST_DATA_DIR": str(data_dir),
            **env,
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokenomist", "serve", "--port", str(self.port)],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                httpx.get(self.url + "/health/live", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"server not live within {timeout_s}s:\n{self.output()}")

    def wait_exit(self, timeout_s: float = 60) -> int:
        return self.proc.wait(timeout=timeout_s)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def server_process(
    env: dict[str, str], data_dir: Path, ready: bool = True
) -> Iterator[ServerProcess]:
    server = ServerProcess(env, data_dir)
    try:
        if ready:
            server.wait_ready()
        yield server
    finally:
        server.stop()
