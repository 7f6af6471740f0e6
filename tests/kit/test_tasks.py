"""Background loops end on shutdown even when a library swallowed the cancel.

CI hung in a database-outage test: the alert engine was cancelled while asyncpg was connecting
through ``asyncio.wait_for``; on Python 3.11 that returns what the inner awaitable produced
when it finished in the same loop step as the cancel (here a connection reset), so the loop
logged a failed cycle and waited for the next one while the shutdown waited for it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from tokenomist.alerts.lifecycle import AlertEngine, Cycle
from tokenomist.kit.tasks import cancel_requested


def _finish_with_the_cancel(gate: asyncio.Future, task: asyncio.Task) -> None:
    """Complete ``gate`` and cancel ``task`` in one loop step, as a reset connection and a
    shutdown can."""
    asyncio.get_running_loop().call_soon(gate.set_exception, ConnectionResetError("reset"))
    task.cancel()


async def test_cancel_requested_survives_a_cancel_that_wait_for_swallowed() -> None:
    gate: asyncio.Future = asyncio.get_running_loop().create_future()
    seen: list[bool] = []

    async def body() -> None:
        try:
            await asyncio.wait_for(gate, timeout=10)
        except ConnectionResetError:  # 3.11: the cancel is gone, the reset is what arrives
            seen.append(cancel_requested())

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    _finish_with_the_cancel(gate, task)
    try:
        await task
    except asyncio.CancelledError:
        seen.append(True)  # Python 3.12+: wait_for delivers the cancel itself
    assert seen == [True]


class _ResetWhileConnecting(AlertEngine):
    """A cycle that waits on a connection the way asyncpg's connect does."""

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(settings=SimpleNamespace(alerts_eval_interval_s=60.0)))
        self.gate: asyncio.Future = asyncio.get_running_loop().create_future()
        self.connecting = asyncio.Event()
        self.cycles = 0

    async def run_cycle(self) -> Cycle:
        self.cycles += 1
        self.connecting.set()
        await asyncio.wait_for(self.gate, timeout=10)
        return Cycle(led=True)


async def test_the_alert_engine_stops_when_its_cancel_is_swallowed_mid_cycle() -> None:
    engine = _ResetWhileConnecting()
    engine.start()
    await engine.connecting.wait()
    # The connection resets in the loop step before stop() cancels the cycle: wait_for sees its
    # inner awaitable done when the cancel arrives and raises the reset in its place.
    asyncio.get_running_loop().call_soon(engine.gate.set_exception, ConnectionResetError("reset"))
    stopping = asyncio.create_task(engine.stop())
    # Before the fix this waited for the next cycle (60 s) and then for ever. (Not under
    # asyncio.timeout: a stop that swallows cancels would swallow the timeout's too.)
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert done, "the engine did not stop"
    stopping.result()
    assert engine.cycles == 1
