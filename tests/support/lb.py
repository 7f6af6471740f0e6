"""A real HAProxy in front of given backends, on a free port, for tests that go through a load
balancer. The configuration is the product's own (``tokenomist.stack.haproxy``): WebSocket
tunnels, ``/health/ready`` checks, retries on another backend.

    with load_balancer({"a": srv_a.port, "b": srv_b.port}, tmp_path / "lb") as lb:
        httpx.get(lb.url + "/health/ready")
        lb.wait_states({"a": "UP", "b": "UP"})
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.env import IN_CI
from tests.support.servers import free_port
from tokenomist.stack import haproxy


def haproxy_available() -> bool:
    try:
        haproxy.find_haproxy()
    except FileNotFoundError:
        return False
    return True


def require_haproxy() -> None:
    """Skip (locally) or fail (CI=true: .ci/run installs it) without HAProxy."""
    import pytest

    if haproxy_available():
        return
    message = "HAProxy not installed (apt-get install -y haproxy)"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


class LoadBalancer:
    def __init__(
        self, backends: dict[str, int], directory: Path, *, check_interval_ms: int = 300
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_socket = directory / "haproxy.sock"
        servers = [haproxy.Backend(name, "127.0.0.1", port) for name, port in backends.items()]
        self.config_path = directory / "haproxy.cfg"
        self.config_path.write_text(
            haproxy.render_config(
                servers, self.port, self.admin_socket, check_interval_ms=check_interval_ms
            )
        )
        self.log_path = directory / "haproxy.log"
        self._process = haproxy.HAProxyProcess(self.config_path, self.admin_socket, self.log_path)

    def start(self) -> None:
        self._process.start()
        deadline = time.monotonic() + 30
        while not self.admin_socket.exists():
            self._exited_check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy did not open {self.admin_socket}:\n{self.output()}")
            time.sleep(0.05)

    def _exited_check(self) -> None:
        proc = self._process.proc
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"HAProxy exited with {proc.returncode}:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def states(self) -> dict[str, str]:
        return haproxy.server_states(self.admin_socket)

    def set_state(self, server: str, state: str) -> None:
        haproxy.set_server_state(self.admin_socket, server, state)

    def wait_states(self, wanted: dict[str, str], timeout_s: float = 30) -> None:
        """Until HAProxy reports each named backend in the wanted state (``UP``, ``DOWN``…)."""
        deadline = time.monotonic() + timeout_s
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self._exited_check()
            states = self.states()
            if all(states.get(name, "").split(" ")[0] == want for name, want in wanted.items()):
                return
            time.sleep(0.05)
        raise TimeoutError(f"HAProxy states {states}, wanted {wanted}")

    def stop(self) -> None:
        proc = self._process.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def load_balancer(
    backends: dict[str, int], directory: Path, *, wait_up: bool = True
) -> Iterator[LoadBalancer]:
    require_haproxy()
    lb = LoadBalancer(backends, directory)
    lb.start()
    try:
        if wait_up:
            lb.wait_states(dict.fromkeys(backends, "UP"))
        yield lb
    finally:
        lb.stop()


__all__ = ["LoadBalancer", "haproxy_available", "load_balancer", "require_haproxy"]
