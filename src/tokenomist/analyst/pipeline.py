"""The agent pipeline: triage → data → optimization → actions → reporting, with triage
choosing which of the others run. Each agent is wrapped in its events:
``agent_started`` → ``agent_thinking`` (≥ 1, from the agent) → tool events →
``agent_completed`` (or ``agent_error`` then ``agent_completed{status: failed}``).

Run-level events (``run_started``, ``assistant_message``, ``run_completed``/``run_failed``)
belong to the caller (``service``), which also persists the run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog

from tokenomist.analyst import events
from tokenomist.analyst.agents import actions, data, optimization, reporting, triage
from tokenomist.analyst.agents.base import RunState
from tokenomist.analyst.context import RunAborted, RunCancelled, RunContext, RunStatus
from tokenomist.kit.errors import TokenomistError

log = structlog.get_logger(__name__)

AGENTS = {m.NAME: m for m in (triage, data, optimization, actions, reporting)}


class AgentFailed(Exception):
    def __init__(self, agent: str, code: str, message: str) -> None:
        super().__init__(message)
        self.agent = agent
        self.code = code
        self.message = message


@dataclass
class Answer:
    content: str
    report: dict[str, Any]
    agents: list[str]


async def run_pipeline(
    ctx: RunContext, question: str, previous_intent: dict[str, Any] | None = None
) -> Answer:
    """``previous_intent``: the thread's last answered intent, which a follow-up ("and for
    gpt-4o-mini?") is read against."""
    state = RunState(question=question, previous_intent=previous_intent)
    ran = [triage.NAME]
    await _run_agent(ctx, state, triage)
    for name in state.plan:
        await _run_agent(ctx, state, AGENTS[name])
        ran.append(name)
    return Answer(state.content, state.report, ran)


async def _run_agent(ctx: RunContext, state: RunState, agent: Any) -> None:
    await ctx.checkpoint()
    name = agent.NAME
    await ctx.emit(*events.agent_started(name))
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        summary = await agent.run(ctx, state)
    except RunAborted as exc:
        status = RunStatus.cancelled if isinstance(exc, RunCancelled) else RunStatus.failed
        await ctx.emit(*events.agent_completed(name, status, elapsed(), str(exc)))
        raise
    except TokenomistError as exc:
        await _fail(ctx, name, exc.code, exc.message, elapsed())
    except Exception as exc:
        log.exception("analyst.agent_failed", agent=name, run_id=ctx.run_id)
        await _fail(ctx, name, "agent_failed", f"{type(exc).__name__}: {exc}", elapsed())
    else:
        await ctx.emit(*events.agent_completed(name, RunStatus.completed, elapsed(), summary))


async def _fail(ctx: RunContext, agent: str, code: str, message: str, ms: float) -> None:
    await ctx.emit(*events.agent_error(agent, code, message))
    await ctx.emit(*events.agent_completed(agent, RunStatus.failed, ms, message))
    raise AgentFailed(agent, code, f"the {agent} agent failed: {message}")
