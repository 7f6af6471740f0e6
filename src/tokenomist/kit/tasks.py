"""Background loops that stop when asked to, even when a library swallowed the cancel.

A loop that logs and retries on ``Exception`` ends only through ``CancelledError``. On Python
3.11, ``asyncio.wait_for`` (which asyncpg's connect and others use) returns or raises what the
inner awaitable produced when it finished at the moment the cancel came in, and the
``CancelledError`` is lost: the loop logs a connection error and waits for its next cycle while
the shutdown that cancelled it waits for it for ever. The cancel request itself stays counted on
the task, so a loop that checks it ends anyway.
"""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """True once the running task has been asked to cancel (whether or not the
    ``CancelledError`` reached it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has ended.

    ``with suppress(CancelledError): await task`` would also swallow a cancel aimed at the
    caller (a shutdown's time bound); ``asyncio.wait`` leaves that to reach the caller. An
    exception the task ended with is raised here, as awaiting it would."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and (exc := task.exception()) is not None:
        raise exc
