"""SQL for threads, messages and runs. Every read is scoped to the owning user (a run or
thread of another user is indistinguishable from a missing one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tokenomist.analyst.context import RunStatus
from tokenomist.analyst.models import Message, Run, Thread
from tokenomist.kit.db import utcnow

UNFINISHED = (RunStatus.queued.value, RunStatus.running.value)


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialise run starts of one user across instances (a row lock on PostgreSQL; SQLite
    serialises writers and the caller also holds an in-process lock)."""
    from tokenomist.auth.models import User

    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def count_unfinished(session: AsyncSession, user_id: str, since: datetime) -> int:
    """Runs of this user still queued or running, created after ``since`` (older ones are
    past their time limit: their instance died, they no longer hold a slot)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.user_id == user_id, Run.status.in_(UNFINISHED), Run.created_at >= since)
        )
        or 0
    )


async def get_thread(session: AsyncSession, thread_id: str, user_id: str) -> Thread | None:
    return await session.scalar(
        select(Thread).where(Thread.id == thread_id, Thread.user_id == user_id)
    )


async def create_thread(session: AsyncSession, org_id: str, user_id: str, title: str) -> Thread:
    thread = Thread(org_id=org_id, user_id=user_id, title=title)
    session.add(thread)
    await session.flush()
    return thread


async def add_message(
    session: AsyncSession,
    thread: Thread | str,
    role: str,
    content: str,
    *,
    run_id: str | None = None,
    report: dict[str, Any] | None = None,
) -> Message:
    thread_id = thread if isinstance(thread, str) else thread.id
    message = Message(thread_id=thread_id, role=role, content=content, run_id=run_id, report=report)
    session.add(message)
    await session.execute(update(Thread).where(Thread.id == thread_id).values(updated_at=utcnow()))
    await session.flush()
    return message


async def create_run(session: AsyncSession, **values: Any) -> Run:
    run = Run(status=RunStatus.queued.value, **values)
    session.add(run)
    await session.flush()
    return run


async def get_run(session: AsyncSession, run_id: str, user_id: str) -> Run | None:
    return await session.scalar(select(Run).where(Run.id == run_id, Run.user_id == user_id))


async def set_run(session: AsyncSession, run_id: str, **values: Any) -> None:
    await session.execute(update(Run).where(Run.id == run_id).values(**values))


async def mark_running(session: AsyncSession, started: dict[str, datetime]) -> None:
    """Runs that began (id → when), still ``queued``: an outcome already written stays."""
    for run_id, at in started.items():
        await session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.queued.value)
            .values(status=RunStatus.running.value, started_at=at)
        )


async def list_threads(session: AsyncSession, user_id: str, limit: int) -> list[Thread]:
    rows = await session.scalars(
        select(Thread)
        .where(Thread.user_id == user_id)
        .order_by(Thread.updated_at.desc(), Thread.id)
        .limit(limit)
    )
    return list(rows)


async def list_messages(session: AsyncSession, thread_id: str) -> list[Message]:
    rows = await session.scalars(
        select(Message)
        .where(Message.thread_id == thread_id)
        .order_by(Message.created_at, Message.role.desc())
    )
    return list(rows)


async def fail_abandoned(session: AsyncSession, before: datetime) -> int:
    """Unfinished runs created before ``before`` can no longer be running anywhere (every run
    has a time limit); mark them failed so nobody waits on them."""
    result = await session.execute(
        update(Run)
        .where(Run.status.in_(UNFINISHED), Run.created_at < before)
        .values(
            status=RunStatus.failed.value,
            finished_at=utcnow(),
            error_code="abandoned",
            error_message="the server running this analysis stopped before it finished",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def list_unfinished(session: AsyncSession, limit: int) -> list[tuple[str, datetime]]:
    """Ids and creation times of runs still queued or running, on any instance, oldest first."""
    rows = await session.execute(
        select(Run.id, Run.created_at)
        .where(Run.status.in_(UNFINISHED))
        .order_by(Run.created_at)
        .limit(limit)
    )
    return [(run_id, created_at) for run_id, created_at in rows]


async def fail_unfinished(session: AsyncSession, run_id: str, *, code: str, message: str) -> bool:
    """Mark one run failed if it is still unfinished (its instance may finish it first)."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(UNFINISHED))
        .values(
            status=RunStatus.failed.value,
            finished_at=utcnow(),
            error_code=code,
            error_message=message,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
