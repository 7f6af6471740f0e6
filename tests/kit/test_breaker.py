import pytest

from tokenomist.kit.breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _fail():
    raise ConnectionError("down")


async def _ok():
    return "ok"


async def test_opens_after_threshold_and_refuses_fast():
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=2, reset_after_s=5, clock=clock)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await breaker.call(_fail)
    assert breaker.state is BreakerState.open
    with pytest.raises(CircuitOpen) as info:
        await breaker.call(_ok)
    assert info.value.retry_in_s == pytest.approx(5)


async def test_half_open_trial_success_closes():
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_after_s=5, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(_fail)
    clock.now = 5.1
    assert breaker.state is BreakerState.half_open
    assert await breaker.call(_ok) == "ok"
    assert breaker.state is BreakerState.closed


async def test_half_open_trial_failure_reopens():
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=3, reset_after_s=5, clock=clock)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await breaker.call(_fail)
    clock.now = 6
    with pytest.raises(ConnectionError):
        await breaker.call(_fail)
    assert breaker.state is BreakerState.open


async def test_success_resets_failure_count():
    breaker = CircuitBreaker("dep", failure_threshold=2, reset_after_s=5, clock=Clock())
    with pytest.raises(ConnectionError):
        await breaker.call(_fail)
    await breaker.call(_ok)
    with pytest.raises(ConnectionError):
        await breaker.call(_fail)
    assert breaker.state is BreakerState.closed


async def test_a_cancelled_half_open_trial_lets_the_next_call_try_again():
    import asyncio

    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_after_s=5, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(_fail)
    clock.now = 5.1
    started = asyncio.Event()

    async def _hang():
        started.set()
        await asyncio.sleep(3600)

    trial = asyncio.create_task(breaker.call(_hang))
    await started.wait()
    trial.cancel()  # e.g. the client went away mid-request
    with pytest.raises(asyncio.CancelledError):
        await trial
    # A cancelled trial decided nothing: the next call is the new trial, not refused forever.
    assert await breaker.call(_ok) == "ok"
    assert breaker.state is BreakerState.closed
