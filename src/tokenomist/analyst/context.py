"""Per-run context. Built once per run and handed to every agent and tool; nothing user- or
run-specific is ever kept on a shared object (agents, tools and strategies are stateless)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tokenomist.analyst.catalogue import Catalogue
    from tokenomist.analyst.llm.base import LLMProvider
    from tokenomist.kit.analytics import OrgAnalytics
    from tokenomist.kit.cache import Cache
    from tokenomist.usage.pricing import Pricer


class RunStatus(StrEnum):
    """The one status enum for runs and agents (and tool calls)."""

    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.completed, RunStatus.failed, RunStatus.cancelled)


class RunAborted(Exception):
    """The run stops at the next agent/tool boundary; ``code`` goes into ``run_failed``."""

    code = "aborted"


class RunCancelled(RunAborted):
    code = "cancelled"


class RunTimedOut(RunAborted):
    code = "timeout"


class EventSink(Protocol):
    """Where a run's events go (the event bus in production, a list in tests and benchmarks).
    Bound to one run: ``seq`` numbering is the sink's business."""

    async def emit(self, type: str, data: dict[str, Any]) -> None: ...


def cancel_key(run_id: str) -> str:
    return f"analyst:cancel:{run_id}"


@dataclass(frozen=True)
class CancelToken:
    """Cancellation through the cache tier, so any instance can cancel any run: the flag is a
    cache key the pipeline reads at every agent and tool boundary."""

    cache: Cache | None
    run_id: str

    async def is_set(self) -> bool:
        if self.cache is None:
            return False
        return await self.cache.exists(cancel_key(self.run_id))


@dataclass(frozen=True)
class AnalystDeps:
    """The org-scoped data access and the process-wide helpers a run uses."""

    usage: OrgAnalytics
    pricer: Pricer
    catalogue: Catalogue
    llm: LLMProvider
    window_anchor: str = "data"  # "data": relative windows end at the latest usage record
    default_window_days: int = 30
    # The org's budgets (alerts.models.Budget rows), read when a tool needs them.
    budgets: Callable[[], Awaitable[list[Any]]] | None = None


@dataclass(frozen=True)
class RunContext:
    user_id: str
    org_id: str
    run_id: str
    thread_id: str
    deadline: float  # time.monotonic() value after which the run fails with "timeout"
    cancel: CancelToken
    sink: EventSink
    deps: AnalystDeps
    # Per-run memo (e.g. the window's cell totals, read once and shared by the strategy
    # tools). Lives and dies with this context; never shared between runs.
    scratch: dict[str, Any] = field(default_factory=dict, compare=False)

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        await self.sink.emit(type, data)

    async def checkpoint(self) -> None:
        """Called at every agent and tool boundary: raise if the run was cancelled or ran out
        of time."""
        if await self.cancel.is_set():
            raise RunCancelled("the run was cancelled")
        if time.monotonic() > self.deadline:
            raise RunTimedOut("the run exceeded its time limit")
