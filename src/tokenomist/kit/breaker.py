"""A small circuit breaker for dependency calls.

Closed: calls pass; ``failure_threshold`` consecutive failures open it. Open: calls are refused
at once with ``CircuitOpen`` until ``reset_after_s`` has passed. Half-open: one trial call is let
through; success closes the circuit, failure opens it again. (No maintained asyncio breaker on
PyPI fits this small need, so it lives here, tested.)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitOpen(Exception):
    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit '{name}' is open; next trial in {retry_in_s:.1f}s")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        reset_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.last_error: BaseException | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock() - self._opened_at >= self.reset_after_s:
            return BreakerState.half_open
        return BreakerState.open

    def _before_call(self) -> None:
        state = self.state
        if state is BreakerState.open or (state is BreakerState.half_open and self._trial_running):
            assert self._opened_at is not None
            remaining = max(0.0, self.reset_after_s - (self._clock() - self._opened_at))
            raise CircuitOpen(self.name, remaining)
        if state is BreakerState.half_open:
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False
        self.last_error = None

    def record_failure(self, exc: BaseException) -> None:
        self.last_error = exc
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self._before_call()
        try:
            result = await fn()
        except Exception as exc:
            self.record_failure(exc)
            raise
        except BaseException:
            # Cancelled (client gone, timeout above us): no verdict on the dependency, but the
            # half-open trial slot must be freed or every later call is refused for good.
            self._trial_running = False
            raise
        self.record_success()
        return result
