"""HAProxy in front of app instances: its configuration, its process and its admin socket.

What the configuration is for:

- WebSockets: HAProxy passes the upgrade through in HTTP mode; once upgraded, the connection is
  a tunnel held for ``timeout tunnel`` (a followed run may be quiet for minutes), not the
  request timeouts.
- Health: ``GET /health/ready`` every ``check_interval_ms``; two failures take an instance out
  (a draining instance answers 503), two successes put it back.
- Retries: a refused connection (an instance restarting), an empty answer (a pooled connection
  the instance closed as it stopped) and a 503 (a draining instance refuses new runs and
  WebSockets before doing anything) are retried on ANOTHER instance (``option redispatch``),
  so a rolling restart shows no failed request. Requests larger than HAProxy's buffer (16 KiB:
  big ingest batches) are not replayed; ingest is idempotent by ``request_id`` anyway.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

BACKEND = "app"


@dataclass(frozen=True)
class Backend:
    name: str
    host: str
    port: int


def find_haproxy() -> str:
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )
    if path is None:
        raise FileNotFoundError(
            "HAProxy is not installed: `apt-get install -y haproxy` (Debian's package)"
        )
    return path


def render_config(
    backends: list[Backend],
    port: int,
    admin_socket: Path,
    *,
    host: str = "127.0.0.1",
    check_interval_ms: int = 500,
    tunnel_timeout_s: int = 3600,
) -> str:
    servers = "\n".join(
        f"    server {b.name} {b.host}:{b.port} check inter {check_interval_ms}ms fall 2 rise 2"
        for b in backends
    )
    return f"""\
global
    maxconn 4096
    stats socket {admin_socket} mode 600 level admin

defaults
    mode http
    option http-server-close
    timeout connect 2s
    timeout check 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    timeout http-keep-alive 4s
    timeout queue 10s
    timeout tunnel {tunnel_timeout_s}s
    timeout client-fin 5s
    timeout server-fin 5s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503

frontend lb
    bind {host}:{port}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
{servers}
"""


class HAProxyProcess:
    """``haproxy -db -f <config>`` (foreground, so it is this process's child to stop)."""

    def __init__(self, config_path: Path, admin_socket: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.admin_socket = admin_socket
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> None:
        """Refuse a configuration HAProxy itself rejects, quoting its complaint."""
        done = subprocess.run(  # noqa: S603 - HAProxy from the system, our own config
            [find_haproxy(), "-c", "-q", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise ValueError(f"HAProxy rejects {self.config_path}: {done.stderr.strip()}")

    def start(self, *, detach: bool = False) -> int:
        self.check()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - as above
                [find_haproxy(), "-db", "-f", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=detach,
            )
        return self.proc.pid


def admin(admin_socket: Path, command: str, timeout_s: float = 5.0) -> str:
    """One command on HAProxy's admin socket (e.g. ``show stat``); its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(admin_socket))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_states(admin_socket: Path) -> dict[str, str]:
    """Each backend server's state as HAProxy sees it: UP, DOWN, DRAIN, MAINT, ``UP 1/2``…"""
    text = admin(admin_socket, "show stat").lstrip("# ")
    rows = csv.DictReader(text.splitlines())
    return {
        row["svname"]: row["status"]
        for row in rows
        if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")
    }


def set_server_state(admin_socket: Path, server: str, state: str) -> None:
    """``ready``, ``drain`` (no new connections, current ones go on) or ``maint``."""
    answer = admin(admin_socket, f"set server {BACKEND}/{server} state {state}").strip()
    if answer:
        raise RuntimeError(
            f"HAProxy refused `set server {BACKEND}/{server} state {state}`: {answer}"
        )
