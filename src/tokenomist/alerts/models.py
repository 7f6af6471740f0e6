"""Alert tables. An event's ``dedup_key`` is unique per org, so a (budget, period, threshold)
fires once whichever instance, or which restart, evaluates it first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tokenomist.kit.db import Base, IdMixin, UTCDateTime, utcnow


class AlertChannel(IdMixin, Base):
    __tablename__ = "alert_channels"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook | slack
    name: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(Text)
    # Webhooks only; kept readable because every delivery is signed with it.
    secret: Mapped[str | None] = mapped_column(String(80), nullable=True)


class Budget(IdMixin, Base):
    __tablename__ = "budgets"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    period: Mapped[str] = mapped_column(String(8))  # day | week | month
    amount_usd: Mapped[float] = mapped_column(Float)
    thresholds: Mapped[list[float]] = mapped_column(JSON)
    forecast_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    channel_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertEvent(IdMixin, Base):
    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("org_id", "dedup_key", name="uq_alert_events_dedup"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    # NULL for events that may repeat (a channel test); NULLs never collide in a unique index.
    dedup_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertDelivery(IdMixin, Base):
    """One event to one channel: pending until delivered or out of attempts (failed)."""

    __tablename__ = "alert_deliveries"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("alert_events.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttempt(IdMixin, Base):
    __tablename__ = "alert_delivery_attempts"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
