"""Analyst start/stop: check the catalogue and the LLM settings, start the run manager, mark
runs that a previous process left unfinished as failed; on stop, end this process's runs."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tokenomist.analyst import repository
from tokenomist.analyst.catalogue import CatalogueError, get_catalogue
from tokenomist.analyst.liveness import Liveness
from tokenomist.analyst.llm import build_provider
from tokenomist.analyst.service import AnalystRuns, RunManager
from tokenomist.kit import db
from tokenomist.kit.db import utcnow
from tokenomist.kit.resources import Resources, StartupError

log = structlog.get_logger(__name__)
ANCHORS = ("data", "now")


async def start(resources: Resources) -> None:
    settings = resources.settings
    if settings.analyst_window_anchor not in ANCHORS:
        raise StartupError(
            f"startup failed: configuration: TOKENOMIST_ANALYST_WINDOW_ANCHOR="
            f"{settings.analyst_window_anchor!r} is not one of {', '.join(ANCHORS)}"
        )
    try:
        get_catalogue(settings.analyst_catalogue_file)
        llm = build_provider(settings)
    except (CatalogueError, ValueError) as exc:
        raise StartupError(f"startup failed: configuration: {exc}") from exc
    resources.llm = llm
    liveness = Liveness(resources)
    resources.run_manager = RunManager(liveness)
    resources.runs = AnalystRuns()
    # Every run has a time limit, so an unfinished run older than it belongs to a process
    # that is gone (this is safe with several instances sharing the database).
    before = utcnow() - timedelta(seconds=settings.analyst_run_timeout_s + 60)
    async with db.transaction(resources.sessions) as session:
        abandoned = await repository.fail_abandoned(session, before)
    liveness.start()
    log.info(
        "analyst.ready",
        llm=llm.describe(),
        abandoned_runs=abandoned,
        instance_id=liveness.instance_id,
    )


async def drain(resources: Resources) -> None:
    """SIGTERM: new runs are already refused (``resources.draining``); let this instance's
    runs finish for up to ``drain_timeout_s``, then stop the rest as ``instance_stopped``."""
    manager = resources.run_manager
    if manager is None:
        return
    running = len(manager.tasks)
    stopped = await manager.drain(resources.settings.drain_timeout_s)
    log.info("analyst.drained", runs=running, finished=running - stopped, stopped=stopped)


async def stop(resources: Resources) -> None:
    manager, llm = resources.run_manager, resources.llm
    resources.runs = resources.run_manager = resources.llm = None
    if manager is not None:
        await manager.stop()
        if manager.liveness is not None:
            await manager.liveness.stop()
    if llm is not None:
        await llm.close()
