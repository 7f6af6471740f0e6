"""HTTP shapes of the usage domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Dimension = Literal["model", "provider", "project", "feature", "end_user"]
GroupBy = Literal[
    "model", "provider", "project", "feature", "end_user", "hour", "day", "week", "month"
]
Interval = Literal["hour", "day", "week"]


class RowErrorOut(BaseModel):
    index: int = Field(description="0-based record index, or 1-based line number for files")
    field: str
    message: str


class IngestReportOut(BaseModel):
    format: str | None = None
    accepted: int
    duplicates: int
    rejected: int
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="rows left out on purpose, not in error, per reason "
        "(span_without_genai_usage, result_without_requests); empty when none",
    )
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
    key: str | list[str] = Field(description="the group's value; a list of two with two group_by")
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
    group_by: GroupBy | list[GroupBy] | None = None
    totals: Totals
    groups: list[Group]

    model_config = {"populate_by_name": True}


class SeriesPoint(BaseModel):
    t: str = Field(description="bucket start, UTC, ISO 8601")
    cost_usd: float = Field(description="spend of the priced rows in the bucket (0 when none)")
    requests: int
    input_tokens: int
    output_tokens: int
    unpriced_requests: int


class SeriesLine(BaseModel):
    key: str | None = Field(description="the dimension's value; null without group_by")
    points: list[SeriesPoint]


class SeriesOther(BaseModel):
    points: list[SeriesPoint]


class SeriesOut(BaseModel):
    from_: datetime | None = Field(alias="from", serialization_alias="from")
    to: datetime | None
    interval: Interval
    group_by: Dimension | None = None
    series: list[SeriesLine]
    other: SeriesOther

    model_config = {"populate_by_name": True}


class ModelSeen(BaseModel):
    provider: str
    model: str
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(description="null when none of its rows is priced")
    unpriced_requests: int
    priced: bool = Field(description="at least one of its rows has a price")
    first_seen: str
    last_seen: str


class ModelsOut(BaseModel):
    from_: datetime | None = Field(alias="from", serialization_alias="from")
    to: datetime | None
    models: list[ModelSeen]

    model_config = {"populate_by_name": True}


ReconcileGroupBy = Literal["model", "day"]


class ReconciliationRow(BaseModel):
    requests: int
    reported_requests: int = Field(description="rows carrying a producer-reported cost")
    unpriced_requests: int = Field(description="rows we could not price (computed cost null)")
    computed_usd: float | None = Field(
        description="our cost of the rows with a reported cost; null when none of them is priced"
    )
    reported_usd: float | None = Field(
        description="the producer's cost of those rows; null when no row reports one"
    )
    difference_usd: float | None = Field(description="reported_usd - computed_usd")
    difference_pct: float | None = Field(
        description="difference_usd as a percentage of computed_usd; null when that is 0 or null"
    )
    likely_cause: str = Field(description="the first matching rule of the cause table")


class _ReconciliationKey(BaseModel):
    key: str = Field(description="the model, or the UTC day YYYY-MM-DD")


class ReconciliationItem(ReconciliationRow, _ReconciliationKey):
    """A group: its key first, then the row's fields."""


class ReconciliationOut(BaseModel):
    from_: datetime | None = Field(alias="from", serialization_alias="from")
    to: datetime | None
    group_by: ReconcileGroupBy
    items: list[ReconciliationItem]
    totals: ReconciliationRow

    model_config = {"populate_by_name": True}
