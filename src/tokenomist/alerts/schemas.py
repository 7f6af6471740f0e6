"""Request and response bodies of the alerts API (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from tokenomist.kit.hygiene import CleanInput

Period = Literal["day", "week", "month"]
Status = Literal["ok", "warning", "exceeded", "forecast_exceeded"]


class Scope(CleanInput):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    project: str | None = Field(default=None, min_length=1, max_length=200)
    feature: str | None = Field(default=None, min_length=1, max_length=200)
    end_user: str | None = Field(default=None, min_length=1, max_length=200)


def _thresholds(values: list[float] | None) -> list[float] | None:
    if values is None:
        return None
    if not values:
        raise ValueError("give at least one threshold")
    if any(not 0 < v <= 10 for v in values):
        raise ValueError("each threshold is a fraction of the amount in (0, 10], e.g. 0.8")
    return sorted(set(values))


class ChannelIn(CleanInput):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook", "slack"]
    url: HttpUrl
    name: str = Field("", max_length=200)


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    name: str
    url: str
    created_at: datetime


class ChannelCreatedOut(ChannelOut):
    secret: str | None = Field(
        None, description="webhooks only, shown this once: verify X-Tokenomist-Signature with it"
    )


class ChannelListOut(BaseModel):
    items: list[ChannelOut]


class ChannelTestOut(BaseModel):
    event_id: str
    delivered: bool
    status_code: int | None
    error: str | None


class BudgetIn(CleanInput):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scope: Scope = Field(default_factory=Scope)
    period: Period
    amount_usd: float = Field(gt=0, le=1e12)
    thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0], max_length=20)
    forecast_alert: bool = False
    channel_ids: list[str] = Field(default_factory=list, max_length=20)

    _check = field_validator("thresholds")(classmethod(lambda cls, v: _thresholds(v)))


class BudgetPatch(CleanInput):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    scope: Scope | None = None
    period: Period | None = None
    amount_usd: float | None = Field(default=None, gt=0, le=1e12)
    thresholds: list[float] | None = Field(default=None, max_length=20)
    forecast_alert: bool | None = None
    channel_ids: list[str] | None = Field(default=None, max_length=20)

    _check = field_validator("thresholds")(classmethod(lambda cls, v: _thresholds(v)))


class BudgetOut(BaseModel):
    id: str
    name: str
    scope: dict[str, str]
    period: Period
    amount_usd: float
    thresholds: list[float]
    forecast_alert: bool
    channel_ids: list[str]
    created_at: datetime
    period_start: datetime
    period_end: datetime
    spent_usd: float
    forecast_usd: float
    status: Status


class BudgetListOut(BaseModel):
    items: list[BudgetOut]


class ForecastOut(BaseModel):
    period_start: datetime
    period_end: datetime
    spent_usd: float
    forecast_usd: float
    low_usd: float
    high_usd: float
    method: str = Field(description="weekday_run_rate | run_rate | today_run_rate | no_data")
    basis: str = Field(description="what the forecast rests on, in words")
    history_days: int


class AnomalyWindowOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime


class DriverOut(BaseModel):
    dimension: Literal["feature"]
    key: str
    delta_usd: float = Field(description="this feature's share of actual - expected, by cause")
    cause: Literal["volume", "model_mix", "tokens_per_call", "price"]


class AnomalyOut(BaseModel):
    id: str = Field(description="stable: the same slice and window keep it")
    dimension: Literal["model", "project", "feature", "end_user"]
    key: str
    granularity: Literal["day", "hour"]
    window: AnomalyWindowOut
    observed_to: datetime = Field(description="the window's end, or now for the one running")
    expected_usd: float
    actual_usd: float
    score: float = Field(description="excess over the baseline in robust standard deviations")
    drivers: list[DriverOut] = Field(description="they add up to actual_usd - expected_usd")


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    created_at: datetime
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    channel_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    log: list[AttemptOut]


class AlertOut(BaseModel):
    id: str
    type: str
    org_id: str
    created_at: datetime
    data: dict[str, Any]
    deliveries: list[DeliveryOut]


class AlertListOut(BaseModel):
    items: list[AlertOut]
