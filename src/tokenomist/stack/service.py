"""``tokenomist stack``: N ``tokenomist serve`` instances on loopback ports behind HAProxy,
sharing one PostgreSQL and one Redis; up, status, rolling restart (to a new build, or back) and
down. The stack outlives the command that started it: its processes run in sessions of their
own and their ids, ports and builds are kept in ``<dir>/stack.json``.

Analytics: with ``--clickhouse-url`` every instance uses that ClickHouse server (one truth).
Without it each instance keeps its own embedded chDB under ``<dir>/<instance>/chdb``: chDB is an
in-process engine whose data dir one process owns (a lock file), so instances cannot share it,
and usage ingested through the load balancer lands on whichever instance took the request.
The stack then says so (``analytics: per-instance chDB, not shared``) instead of pretending.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tokenomist.kit.netdiag import mask_url
from tokenomist.stack import haproxy

STATE_FILE = "stack.json"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/tokenomist_stack"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class StackError(RuntimeError):
    """One line an operator can act on."""


def default_build() -> str:
    return f"{shlex.quote(sys.executable)} -m tokenomist"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    name: str
    port: int
    build: str
    pid: int | None = None
    log_offset: int = 0  # where this process's lines start in its server.log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    dir: Path
    lb_port: int
    env: dict[str, str]
    build: str
    previous_build: str | None = None
    halted_build: str | None = None  # the build of a roll that stopped half-way
    haproxy_pid: int | None = None
    instances: list[Instance] = field(default_factory=list)

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    @property
    def admin_socket(self) -> Path:
        return self.dir / "haproxy.sock"

    @property
    def analytics(self) -> str:
        url = self.env.get("TOKENOMIST_CLICKHOUSE_URL")
        if url:
            return f"ClickHouse server at {mask_url(url)} (shared by every instance)"
        return "per-instance chDB, not shared (give --clickhouse-url for one analytics truth)"

    # --- persistence ------------------------------------------------------------------------

    def save(self) -> None:
        doc = asdict(self)
        doc["dir"] = str(self.dir)
        path = self.dir / STATE_FILE
        path.write_text(json.dumps(doc, indent=2))
        path.chmod(0o600)  # it holds the shared JWT secret

    @classmethod
    def load(cls, directory: Path) -> Stack:
        path = directory / STATE_FILE
        if not path.exists():
            raise StackError(f"no stack in {directory} (start one with `tokenomist stack up`)")
        doc = json.loads(path.read_text())
        doc["dir"] = Path(doc["dir"])
        doc["instances"] = [Instance(**i) for i in doc["instances"]]
        return cls(**doc)


# --- processes --------------------------------------------------------------------------------


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _log_tail(path: Path, offset: int = 0, size: int = 1500) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return text[-size:].strip() or "(nothing logged)"


def start_instance(stack: Stack, inst: Instance) -> None:
    data_dir = stack.dir / inst.name
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **stack.env,
        "TOKENOMIST_DATA_DIR": str(data_dir),
        "TOKENOMIST_CHDB_DIR": str(data_dir / "chdb"),
    }
    cmd = [*shlex.split(inst.build), "serve", "--host", "127.0.0.1", "--port", str(inst.port)]
    with (data_dir / "server.log").open("ab") as log:
        inst.log_offset = log.tell()
        proc = subprocess.Popen(  # noqa: S603 - the operator's own build command
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C of this command
        )
    inst.pid = proc.pid


def wait_instance_ready(stack: Stack, inst: Instance, timeout_s: float) -> float:
    """Seconds until the instance answered /health/ready 200. An instance that exits first
    is reported at once with the end of its log (a build that dies does not wait the bound)."""
    start = time.monotonic()
    last = "no answer yet"
    with httpx.Client(timeout=2) as http:
        while True:
            if not alive(inst.pid):
                tail = _log_tail(stack.dir / inst.name / "server.log", inst.log_offset)
                raise StackError(
                    f"instance {inst.name} (`{inst.build} serve`, port {inst.port}) exited "
                    f"during start-up after {time.monotonic() - start:.1f}s; its log ends:\n{tail}"
                )
            try:
                resp = http.get(inst.url + "/health/ready")
                if resp.status_code == 200:
                    return time.monotonic() - start
                last = f"{resp.status_code} {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - start > timeout_s:
                raise StackError(
                    f"instance {inst.name} on port {inst.port} not ready within {timeout_s:g}s; "
                    f"last probe: {last}"
                )
            time.sleep(0.1)


def stop_pid(pid: int | None, timeout_s: float, sig: int = signal.SIGTERM) -> bool:
    """Signal and wait for the process to exit; SIGKILL past ``timeout_s``. True if it exited
    on the signal (not killed)."""
    if not alive(pid):
        return True
    assert pid is not None
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.05)
    return False


def drain_bound_s(stack: Stack) -> float:
    """How long a SIGTERMed instance may take: its drain delay and timeout, plus margin."""
    env = stack.env
    delay = float(env.get("TOKENOMIST_DRAIN_DELAY_S", 2.0))
    timeout = float(env.get("TOKENOMIST_DRAIN_TIMEOUT_S", 30.0))
    return delay + timeout + 15.0


# --- the stack --------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the stack's PostgreSQL database if missing (the instances migrate it)."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    name = parsed.database or "postgres"
    admin_dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )

    async def create() -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    try:
        asyncio.run(create())
    except Exception as exc:
        raise StackError(
            f"PostgreSQL at {mask_url(url)}: cannot create database {name!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def up(
    directory: Path,
    *,
    instances: int = 2,
    database_url: str = DEFAULT_DATABASE_URL,
    redis_url: str = DEFAULT_REDIS_URL,
    clickhouse_url: str = "",
    build: str | None = None,
    lb_port: int = 0,
    extra_env: dict[str, str] | None = None,
    ready_timeout_s: float = 90.0,
) -> Stack:
    directory = directory.resolve()
    if (directory / STATE_FILE).exists():
        old = Stack.load(directory)
        if alive(old.haproxy_pid) or any(alive(i.pid) for i in old.instances):
            raise StackError(f"a stack is already up in {directory} at {old.lb_url}")
    if instances < 1:
        raise StackError("--instances must be at least 1")
    haproxy.find_haproxy()
    directory.mkdir(parents=True, exist_ok=True)
    ensure_database(database_url)
    lb_port = lb_port or free_port()
    env = {
        "TOKENOMIST_ENVIRONMENT": "development",
        "TOKENOMIST_DATABASE_URL": database_url,
        "TOKENOMIST_REDIS_URL": redis_url,
        "TOKENOMIST_CACHE_PREFIX": "tk-stack:",
        # One secret for all: a token issued by one instance is accepted by every other.
        "TOKENOMIST_JWT_SECRET": secrets.token_urlsafe(48),
        "TOKENOMIST_ALLOWED_ORIGINS": f"http://127.0.0.1:{lb_port},http://localhost:{lb_port}",
        **({"TOKENOMIST_CLICKHOUSE_URL": clickhouse_url} if clickhouse_url else {}),
        **(extra_env or {}),
    }
    build = build or default_build()
    stack = Stack(directory, lb_port, env, build)
    stack.instances = [Instance(f"app{n}", free_port(), build) for n in range(1, instances + 1)]
    try:
        # One after another: the first applies the migrations the others then find done.
        for inst in stack.instances:
            start_instance(stack, inst)
            stack.save()
            wait_instance_ready(stack, inst, ready_timeout_s)
        _start_haproxy(stack)
        stack.save()
        wait_lb_up(stack, [i.name for i in stack.instances], ready_timeout_s)
    except BaseException:
        down(stack)
        raise
    return stack


def _start_haproxy(stack: Stack) -> None:
    backends = [haproxy.Backend(i.name, "127.0.0.1", i.port) for i in stack.instances]
    config = stack.dir / "haproxy.cfg"
    config.write_text(haproxy.render_config(backends, stack.lb_port, stack.admin_socket))
    proc = haproxy.HAProxyProcess(config, stack.admin_socket, stack.dir / "haproxy.log")
    stack.haproxy_pid = proc.start(detach=True)


def lb_states(stack: Stack) -> dict[str, str]:
    try:
        return haproxy.server_states(stack.admin_socket)
    except OSError as exc:
        raise StackError(f"HAProxy admin socket {stack.admin_socket}: {exc}") from exc


def wait_lb_up(stack: Stack, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        if not alive(stack.haproxy_pid):
            tail = _log_tail(stack.dir / "haproxy.log")
            raise StackError(f"HAProxy exited; its log ends:\n{tail}")
        try:
            states = haproxy.server_states(stack.admin_socket)
        except OSError:
            states = {}
        if all(states.get(n) == "UP" for n in names):
            return
        time.sleep(0.1)
    raise StackError(f"HAProxy does not see {', '.join(names)} up within {timeout_s:g}s: {states}")


def roll(
    stack: Stack,
    *,
    build: str | None = None,
    to_previous: bool = False,
    ready_timeout_s: float = 90.0,
) -> list[str]:
    """Restart every instance in turn, on ``build`` (or the previous build, or the same one):
    HAProxy stops sending it new connections, SIGTERM drains it, the new process starts on the
    same port, and the next instance waits until HAProxy sees this one up. An instance whose
    new build does not come up is started again on the build it had and the roll stops there
    (raising), so the fleet keeps serving. One line per instance."""
    if to_previous:
        # After a roll that stopped half-way the fleet is still on its build: "back" is that
        # build, not the one before it.
        build = stack.build if stack.halted_build else (stack.previous_build or stack.build)
        stack.halted_build = None
    target = build or stack.build
    if to_previous and all(i.build == target and alive(i.pid) for i in stack.instances):
        return [f"nothing to roll back: every instance runs `{target}`"]
    lines: list[str] = []
    for inst in stack.instances:
        old_build = inst.build
        started = time.monotonic()
        with _suppress_os():
            haproxy.set_server_state(stack.admin_socket, inst.name, "drain")
        clean = stop_pid(inst.pid, drain_bound_s(stack))
        inst.build = target
        start_instance(stack, inst)
        stack.save()
        try:
            wait_instance_ready(stack, inst, ready_timeout_s)
        except StackError as failed:
            inst.build = old_build
            start_instance(stack, inst)
            stack.save()
            wait_instance_ready(stack, inst, ready_timeout_s)
            _lb_ready(stack, inst, ready_timeout_s)
            stack.halted_build = target
            stack.save()
            raise StackError(
                f"roll stopped at {inst.name}, restarted on its old build: {failed}"
            ) from failed
        _lb_ready(stack, inst, ready_timeout_s)
        lines.append(
            f"{inst.name}: restarted in {time.monotonic() - started:.1f}s "
            f"({'drained' if clean else 'killed after the drain bound'}), pid {inst.pid}"
        )
    if target != stack.build:
        stack.previous_build, stack.build = stack.build, target
    stack.halted_build = None
    stack.save()
    return lines


def _lb_ready(stack: Stack, inst: Instance, timeout_s: float) -> None:
    with _suppress_os():
        haproxy.set_server_state(stack.admin_socket, inst.name, "ready")
    wait_lb_up(stack, [inst.name], timeout_s)


class _suppress_os:
    """HAProxy's admin socket missing (HAProxy down) must not stop a restart of the app."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, OSError)


def status(stack: Stack) -> list[str]:
    lines = [
        f"load balancer: {stack.lb_url} (HAProxy pid {stack.haproxy_pid}, "
        f"{'running' if alive(stack.haproxy_pid) else 'NOT running'})"
    ]
    try:
        states = lb_states(stack)
    except StackError as exc:
        states = {}
        lines.append(f"  {exc}")
    with httpx.Client(timeout=3) as http:
        for inst in stack.instances:
            try:
                resp = http.get(inst.url + "/health/ready")
                health = f"{resp.status_code} {resp.json().get('status')}"
            except (httpx.HTTPError, ValueError) as exc:
                health = f"no answer ({type(exc).__name__})"
            lines.append(
                f"{inst.name}: {inst.url} pid {inst.pid} "
                f"{'running' if alive(inst.pid) else 'NOT running'}; ready: {health}; "
                f"HAProxy: {states.get(inst.name, 'unknown')}"
            )
    lines.append(f"build: {stack.build}")
    lines.append(f"analytics: {stack.analytics}")
    return lines


def down(stack: Stack) -> list[str]:
    """SIGTERM every instance at once (each drains), then stop HAProxy."""
    lines = []
    for inst in stack.instances:
        if alive(inst.pid):
            assert inst.pid is not None
            os.kill(inst.pid, signal.SIGTERM)
    for inst in stack.instances:
        clean = stop_pid(inst.pid, drain_bound_s(stack))
        lines.append(f"{inst.name}: {'stopped' if clean else 'killed after the drain bound'}")
    stop_pid(stack.haproxy_pid, 10)
    lines.append("HAProxy: stopped")
    (stack.dir / STATE_FILE).unlink(missing_ok=True)
    stack.admin_socket.unlink(missing_ok=True)
    return lines
