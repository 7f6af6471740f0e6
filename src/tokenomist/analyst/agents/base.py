"""What the agents share: the run's working state (one per run, handed from agent to agent;
never kept on a module or a shared object) and the ``think`` helper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokenomist.analyst import events
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.intent import Intent
from tokenomist.analyst.query import Filters, Window


@dataclass
class RunState:
    question: str
    previous_intent: dict[str, Any] | None = None  # the thread's last answer, for follow-ups
    coverage: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, Any] = field(default_factory=dict)  # the filters' usage over all time
    left_out: dict[str, Any] = field(default_factory=dict)  # before/after the window
    gaps: list[dict[str, Any]] = field(default_factory=list)  # days without traffic
    busy_days: float | None = None  # first to last request, summed over the days with traffic
    windows: list[Window] = field(default_factory=list)  # a comparison's two windows
    sides: list[dict[str, Any]] = field(default_factory=list)  # a comparison's two answers
    what_if: dict[str, Any] | None = None
    unpriced: list[dict[str, Any]] | None = None
    drivers_before: list[dict[str, Any]] = field(default_factory=list)  # "why?"
    totals_before: dict[str, Any] = field(default_factory=dict)
    anomalies: list[dict[str, Any]] | None = None  # "why did spend jump?"
    budgets: dict[str, Any] | None = None  # "are we on track for our budget?"
    intent: Intent | None = None
    window: Window | None = None
    filters: Filters = field(default_factory=Filters)
    plan: list[str] = field(default_factory=list)  # agents after triage, in order
    totals: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Any] | None = None  # {"dimension", "groups"}
    series: list[dict[str, Any]] | None = None
    drivers: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    strategies: list[dict[str, Any]] | None = None  # None = optimisation not run
    strategies_checked: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # assumptions/notes found along the way
    llm: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    content: str = ""


async def think(ctx: RunContext, agent: str, text: str) -> None:
    await ctx.emit(*events.agent_thinking(agent, text))
