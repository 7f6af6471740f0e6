"""What the probes of one verify run share: the target and limits they were given (``ProbeConfig``)
and what earlier checks left for later ones (``RunState``: the health body, the logged-in users,
the golden-path traces, the numbers a passing check leaves for report.json)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from tokenomist.verify.gate import Thresholds
from tokenomist.verify.schemas import Check


@dataclass(frozen=True)
class ProbeConfig:
    target: str  # base URL
    thresholds: Thresholds
    user: tuple[str, str] | None = None
    user2: tuple[str, str] | None = None
    token: str | None = None  # an access token issued elsewhere that must be accepted
    concurrency: int = 7
    request_timeout_s: float = 10.0
    run_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        # Paths are joined to it ("/health/ready"); a trailing slash would double them.
        object.__setattr__(self, "target", self.target.rstrip("/"))

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.target)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/ws"


@dataclass
class Session:
    email: str
    password: str
    access_token: str | None = None


@dataclass
class RunTrace:
    run_id: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    time_to_first_event_ms: float | None = None
    time_to_completion_ms: float | None = None


@dataclass
class RunState:
    config: ProbeConfig
    http: httpx.AsyncClient | None = None  # open while the checks run
    checks: list[Check] = field(default_factory=list)  # recorded so far, in order
    reachable: bool = False  # /health/ready answered with a health body
    health: dict[str, Any] | None = None
    dependencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: list[Session] = field(default_factory=list)  # the first and (if any) second user
    extra_users: list[Session] = field(default_factory=list)  # registered for concurrency
    signup_open: bool = True
    second_user_problem: str | None = None
    traces: list[RunTrace] = field(default_factory=list)  # every golden path, for timing
    frame_validator: Any = None  # compiled once from GET /api/v1/protocol
    # Numbers a passing probe leaves for report.json (check name → data).
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        assert self.http is not None, "probes run inside Verifier.run"
        return self.http

    @property
    def logged_in(self) -> bool:
        return bool(self.users and self.users[0].access_token)


# A probe returns the passing check's message, or raises ProbeFailed / ProbeSkipped.
Probe = Callable[[RunState], Awaitable[str | None]]
