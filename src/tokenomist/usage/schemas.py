"""HTTP shapes of the usage domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["model", "provider", "project", "feature", "end_user", "day"]


class RowErrorOut(BaseModel):
    index: int = Field(description="0-based record index, or 1-based line number for files")
    field: str
    message: str


class IngestReportOut(BaseModel):
    format: str | None = None
    accepted: int
    duplicates: int
    rejected: int
    unpriced: int = Field(description="accepted rows whose model has no known price")
    cost_usd: float = Field(description="spend of the accepted, priced rows")
    errors: list[RowErrorOut]
    errors_truncated: bool = False


class Totals(BaseModel):
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(
        description="spend of the priced rows; null when there are rows and none is priced"
    )
    unpriced_requests: int


class Group(BaseModel):
    key: str
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(
        description="spend of the priced rows; null when there are rows and none is priced"
    )
    unpriced_requests: int


class SummaryOut(BaseModel):
    from_: datetime | None = Field(alias="from", serialization_alias="from")
    to: datetime | None
    group_by: GroupBy | None = None
    totals: Totals
    groups: list[Group]

    model_config = {"populate_by_name": True}
