"""Runs: start one (persisted, then executed in the background), cancel it from any instance,
read it back. A run outlives the client that started it; its events go to the event bus
(``resources.bus``) in the order of DESIGN §1 step 4, and its outcome to SQL.

Per-user limit: at most ``analyst_max_concurrent_runs`` unfinished runs. A run holds its slot
from creation until its terminal event is published."""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from tokenomist.alerts import repository as alerts_repository
from tokenomist.analyst import events, repository
from tokenomist.analyst.catalogue import get_catalogue
from tokenomist.analyst.context import (
    AnalystDeps,
    CancelToken,
    RunCancelled,
    RunContext,
    RunStatus,
    RunTimedOut,
    cancel_key,
)
from tokenomist.analyst.events import BusSink
from tokenomist.analyst.liveness import Liveness
from tokenomist.analyst.pipeline import AgentFailed, run_pipeline
from tokenomist.analyst.schemas import MAX_QUESTION_CHARS, MessageOut, RunError, RunOut, ThreadOut
from tokenomist.auth.principal import Principal
from tokenomist.kit import db
from tokenomist.kit.db import utcnow
from tokenomist.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unprocessable,
)
from tokenomist.kit.resources import Resources

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE_S = 5.0
INSTANCE_STOPPED = "instance_stopped"
INSTANCE_STOPPED_MESSAGE = (
    "the instance running this analysis stopped before it finished; ask again"
)


@dataclass(frozen=True)
class RunHandle:
    run_id: str
    thread_id: str
    message_id: str


class RunManager:
    """This process's background runs (``resources.run_manager``)."""

    def __init__(self, liveness: Liveness | None = None) -> None:
        self.liveness = liveness  # tags each run with this instance (analyst.liveness)
        self.tasks: dict[str, asyncio.Task] = {}
        # One lock per user while someone holds it (weak: idle users cost nothing).
        self._start_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Runs already persisted as finished whose terminal event is not yet published: they
        # still hold their user's slot (SQL no longer counts them).
        self.finishing: dict[str, set[str]] = defaultdict(set)
        self.started = StartedLedger()

    def start_lock(self, user_id: str) -> asyncio.Lock:
        lock = self._start_locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._start_locks[user_id] = lock
        return lock

    def launch(self, resources: Resources, run: dict[str, Any]) -> None:
        task = asyncio.create_task(_execute(resources, self, run), name=f"run-{run['run_id']}")
        self.tasks[run["run_id"]] = task
        task.add_done_callback(lambda _: self.tasks.pop(run["run_id"], None))

    async def drain(self, timeout_s: float) -> int:
        """Let this process's runs finish for up to ``timeout_s``, then stop the rest (each
        records and publishes ``run_failed{code: "instance_stopped"}``). How many were stopped."""
        pending = list(self.tasks.values())
        if pending:
            _, pending_set = await asyncio.wait(pending, timeout=timeout_s)
            pending = list(pending_set)
        await self.stop()
        return len(pending)

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        await self.started.drain()


class StartedLedger:
    """Marks runs ``running`` in batches, off each run's path: every run that began since the
    last write joins the next one, one transaction for all of them. A run's outcome is written
    by the run itself (with its ``started_at``), so a batch that lands late never undoes it."""

    def __init__(self) -> None:
        self._pending: dict[str, datetime] = {}
        self._writer: asyncio.Task | None = None

    def add(self, resources: Resources, run_id: str, started_at: datetime) -> None:
        self._pending[run_id] = started_at
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(resources), name="runs-started")

    async def _write(self, resources: Resources) -> None:
        await asyncio.sleep(0)  # the runs beginning in this turn of the loop join this batch
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                async with db.transaction(resources.sessions) as session:
                    await repository.mark_running(session, batch)
            except Exception:
                log.exception("analyst.runs_started_not_persisted", runs=len(batch))

    async def drain(self) -> None:
        if self._writer is not None:
            await asyncio.wait([self._writer], timeout=SHUTDOWN_GRACE_S)


def _manager(resources: Resources) -> RunManager:
    resources.refuse_if_draining("runs")
    resources.require_bus()  # a run with nowhere to publish its events cannot start
    return resources.require_run_manager()


def _user(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden("runs belong to users; use a user access token", code="user_token_required")
    return principal.user_id


def _title(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= 80 else text[:79] + "…"


async def start_run(
    resources: Resources, principal: Principal, message: str, thread_id: str | None = None
) -> RunHandle:
    user_id = _user(principal)
    question = message.strip()
    if not question:
        raise Unprocessable("message is empty", details=[{"field": "message", "message": "empty"}])
    if len(question) > MAX_QUESTION_CHARS:
        raise Unprocessable(
            f"message is longer than {MAX_QUESTION_CHARS} characters",
            details=[{"field": "message", "message": "too long"}],
        )
    manager = _manager(resources)
    settings = resources.settings
    limit = settings.analyst_max_concurrent_runs
    async with manager.start_lock(user_id), db.transaction(resources.sessions) as session:
        await repository.lock_user(session, user_id)
        since = utcnow() - timedelta(seconds=settings.analyst_run_timeout_s + 60)
        active = await repository.count_unfinished(session, user_id, since)
        active += len(manager.finishing[user_id])
        if active >= limit:
            raise RateLimited(
                f"{active} analyses are already running for this user (limit {limit}); "
                "wait for one to finish",
                details={"limit": limit, "active": active},
            )
        new_thread = thread_id is None
        if thread_id is not None:
            thread = await repository.get_thread(session, thread_id, user_id)
            if thread is None:
                raise NotFound(f"thread {thread_id} not found")
        else:
            thread = await repository.create_thread(
                session, principal.org_id, user_id, _title(question)
            )
        msg = await repository.add_message(session, thread, "user", question)
        run = await repository.create_run(
            session,
            org_id=principal.org_id,
            user_id=user_id,
            thread_id=thread.id,
            message_id=msg.id,
            question=question,
        )
        msg.run_id = run.id
        handle = RunHandle(run.id, thread.id, msg.id)
    manager.launch(
        resources,
        {
            "run_id": handle.run_id,
            "thread_id": handle.thread_id,
            "message_id": handle.message_id,
            "user_id": user_id,
            "org_id": principal.org_id,
            "question": question,
            "new_thread": new_thread,
        },
    )
    log.info("analyst.run_started", run_id=handle.run_id, user_id=user_id)
    return handle


async def cancel_run(resources: Resources, principal: Principal, run_id: str) -> None:
    run = await get_run(resources, principal, run_id)
    if run.status.terminal:
        raise Conflict(f"run {run_id} already {run.status.value}", code="run_finished")
    # The flag lives in the cache tier, so the instance executing the run sees it at its next
    # agent or tool boundary, wherever it runs.
    ttl = resources.settings.analyst_run_timeout_s + 300
    await resources.cache.set(cancel_key(run_id), "1", ttl_s=ttl)
    log.info("analyst.run_cancel_requested", run_id=run_id)


def _run_out(run: Any) -> RunOut:
    error = None
    if run.error_code:
        error = RunError(code=run.error_code, message=run.error_message or "")
    return RunOut(
        run_id=run.id,
        thread_id=run.thread_id,
        message_id=run.message_id,
        question=run.question,
        status=RunStatus(run.status),
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=run.duration_ms,
        content=run.content,
        report=run.report,
        error=error,
    )


async def get_run(resources: Resources, principal: Principal, run_id: str) -> RunOut:
    user_id = _user(principal)
    async with resources.sessions() as session:
        run = await repository.get_run(session, run_id, user_id)
    if run is None or run.org_id != principal.org_id:
        raise NotFound(f"run {run_id} not found")
    return _run_out(run)


async def list_threads(
    resources: Resources, principal: Principal, limit: int = 50
) -> list[ThreadOut]:
    user_id = _user(principal)
    async with resources.sessions() as session:
        threads = await repository.list_threads(session, user_id, limit)
    return [
        ThreadOut(id=t.id, title=t.title, created_at=t.created_at, updated_at=t.updated_at)
        for t in threads
    ]


async def list_messages(
    resources: Resources, principal: Principal, thread_id: str
) -> list[MessageOut]:
    user_id = _user(principal)
    async with resources.sessions() as session:
        thread = await repository.get_thread(session, thread_id, user_id)
        if thread is None:
            raise NotFound(f"thread {thread_id} not found")
        messages = await repository.list_messages(session, thread_id)
    return [
        MessageOut(
            id=m.id,
            thread_id=m.thread_id,
            role=m.role,
            content=m.content,
            report=m.report,
            run_id=m.run_id,
            created_at=m.created_at,
        )
        for m in messages
    ]


# -- execution ---------------------------------------------------------------------------------


def build_context(resources: Resources, run: dict[str, Any], sink: Any) -> RunContext:
    settings = resources.settings
    deps = AnalystDeps(
        usage=resources.org_usage(run["org_id"]),
        pricer=resources.require_pricer(),
        catalogue=get_catalogue(settings.analyst_catalogue_file),
        llm=resources.require_llm(),
        window_anchor=settings.analyst_window_anchor,
        default_window_days=settings.analyst_default_window_days,
        budgets=functools.partial(_org_budgets, resources, run["org_id"]),
    )
    return RunContext(
        user_id=run["user_id"],
        org_id=run["org_id"],
        run_id=run["run_id"],
        thread_id=run["thread_id"],
        deadline=time.monotonic() + settings.analyst_run_timeout_s,
        cancel=CancelToken(resources.cache, run["run_id"]),
        sink=sink,
        deps=deps,
    )


async def _org_budgets(resources: Resources, org_id: str) -> list[Any]:
    async with resources.sessions() as session:
        return await alerts_repository.budgets(session, org_id)


async def _previous_intent(
    resources: Resources, thread_id: str, message_id: str
) -> dict[str, Any] | None:
    """The intent of the thread's last answered question before this one (follow-ups)."""
    async with resources.sessions() as session:
        messages = await repository.list_messages(session, thread_id)
    for m in reversed(messages):
        if m.id == message_id or m.role != "assistant" or not m.report:
            continue
        intent = m.report.get("intent")
        if intent and intent.get("kind") != "help" and "period_spec" in intent:
            return intent
    return None


class _Run:
    """One run's bookkeeping: its clock, how its outcome is persisted and how it is published."""

    def __init__(self, resources: Resources, manager: RunManager, run: dict[str, Any]) -> None:
        self.resources, self.manager, self.run = resources, manager, run
        self.run_id, self.user_id = run["run_id"], run["user_id"]
        self.sink = BusSink(resources.require_bus(), self.run_id)
        self.started = time.monotonic()
        self.started_at = utcnow()

    def ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    async def begin(self) -> None:
        await self.sink.emit(*events.run_started(self.run["thread_id"], self.run["message_id"]))
        self.manager.started.add(self.resources, self.run_id, self.started_at)

    async def answer(self) -> Any:
        run = self.run
        ctx = build_context(self.resources, run, self.sink)
        previous = None
        if not run.get("new_thread"):  # a new thread has no earlier question to follow up
            previous = await _previous_intent(self.resources, run["thread_id"], run["message_id"])
        try:
            async with asyncio.timeout(self.resources.settings.analyst_run_timeout_s):
                return await run_pipeline(ctx, run["question"], previous)
        except TimeoutError:
            raise RunTimedOut("the run exceeded its time limit") from None

    async def complete(self, answer: Any) -> None:
        """Persist the reply and the completed run together, then publish both."""
        async with db.transaction(self.resources.sessions) as session:
            reply = await repository.add_message(
                session,
                self.run["thread_id"],
                "assistant",
                answer.content,
                run_id=self.run_id,
                report=answer.report,
            )
            await repository.set_run(
                session,
                self.run_id,
                status=RunStatus.completed.value,
                started_at=self.started_at,
                finished_at=utcnow(),
                duration_ms=round(self.ms(), 2),
                content=answer.content,
                report=answer.report,
                reply_message_id=reply.id,
            )
        self.manager.finishing[self.user_id].add(self.run_id)
        await self.sink.emit(*events.assistant_message(reply.id, answer.content, answer.report))
        await self.sink.emit(*events.run_completed(RunStatus.completed, self.ms()))
        log.info("analyst.run_completed", run_id=self.run_id, duration_ms=round(self.ms(), 1))

    async def finish(self, status: RunStatus, **values: Any) -> None:
        async with db.transaction(self.resources.sessions) as session:
            await repository.set_run(
                session,
                self.run_id,
                status=status.value,
                started_at=self.started_at,
                finished_at=utcnow(),
                duration_ms=round(self.ms(), 2),
                **values,
            )
        self.manager.finishing[self.user_id].add(self.run_id)

    async def fail(self, status: RunStatus, code: str, message: str) -> None:
        # Both halves are attempted: a client waiting on the stream must hear the end even
        # when SQL is down, and the record must be right even when the bus is.
        try:
            await self.finish(status, error_code=code, error_message=message)
        except Exception:
            log.exception("analyst.run_persist_failed", run_id=self.run_id)
        try:
            await self.sink.emit(*events.run_failed(code, message))
        except Exception:
            log.exception("analyst.run_failed_not_published", run_id=self.run_id)

    def release(self) -> None:
        finishing = self.manager.finishing
        finishing[self.user_id].discard(self.run_id)
        if not finishing[self.user_id]:
            finishing.pop(self.user_id, None)


async def _execute(resources: Resources, manager: RunManager, run: dict[str, Any]) -> None:
    r = _Run(resources, manager, run)
    try:
        if manager.liveness is not None:
            await manager.liveness.claim(r.run_id)
        await r.begin()
        await r.complete(await r.answer())
    except RunCancelled as exc:
        await r.fail(RunStatus.cancelled, "cancelled", str(exc))
    except RunTimedOut as exc:
        limit = resources.settings.analyst_run_timeout_s
        await r.fail(RunStatus.failed, "timeout", f"{exc} ({limit:g} s)")
    except AgentFailed as exc:
        await r.fail(RunStatus.failed, exc.code, exc.message)
    except asyncio.CancelledError:
        # Server shutdown: record the outcome, then let the cancellation proceed.
        await asyncio.shield(r.fail(RunStatus.failed, INSTANCE_STOPPED, INSTANCE_STOPPED_MESSAGE))
        raise
    except Exception as exc:
        log.exception("analyst.run_crashed", run_id=r.run_id)
        await r.fail(
            RunStatus.failed, "internal_error", f"the analysis failed: {type(exc).__name__}"
        )
    finally:
        r.release()


class AnalystRuns:
    """The analyst's runs behind the realtime layer's ``RunControl`` interface (handed over at
    start-up as ``resources.runs``)."""

    async def start(
        self, resources: Resources, principal: Principal, message: str, thread_id: str | None
    ) -> str:
        return (await start_run(resources, principal, message, thread_id)).run_id

    async def is_finished(self, resources: Resources, principal: Principal, run_id: str) -> bool:
        return (await get_run(resources, principal, run_id)).status.terminal

    async def cancel(self, resources: Resources, principal: Principal, run_id: str) -> None:
        await cancel_run(resources, principal, run_id)
