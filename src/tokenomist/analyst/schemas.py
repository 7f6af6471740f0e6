"""Analyst API shapes (DESIGN §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tokenomist.analyst.context import RunStatus
from tokenomist.kit.hygiene import CleanInput

MAX_QUESTION_CHARS = 4000


class RunCreate(CleanInput):
    message: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    thread_id: str | None = Field(None, min_length=1, max_length=64)


class RunAccepted(BaseModel):
    run_id: str
    thread_id: str
    message_id: str
    status: RunStatus
    events_url: str


class RunError(BaseModel):
    code: str
    message: str


class RunOut(BaseModel):
    run_id: str
    thread_id: str
    message_id: str
    question: str
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    content: str | None
    report: dict[str, Any] | None
    error: RunError | None = None


class ThreadOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    id: str
    thread_id: str
    role: str
    content: str
    report: dict[str, Any] | None
    run_id: str | None
    created_at: datetime
