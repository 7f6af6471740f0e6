"""alerts: channels, budgets, events, deliveries and their attempts

Revision ID: 0004_alerts
Revises: 0003_analyst
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tokenomist.kit.db import UTCDateTime

revision: str = "0004_alerts"
down_revision: str | None = "0003_analyst"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _base() -> list:
    return [
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def _org_table(table: str, *columns: sa.Column) -> None:
    op.create_table(
        table,
        *_base(),
        sa.Column("org_id", sa.String(32), nullable=False),
        *columns,
        _fk(table, "org_id", "orgs"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_org_id"), table, ["org_id"])


def upgrade() -> None:
    """The DDL is kept literal on purpose: a migration is a frozen record of the schema at
    its revision, read against the database, not code to factor."""
    _org_table(
        "alert_channels",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(80), nullable=True),
    )
    _org_table(
        "budgets",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("forecast_alert", sa.Boolean(), nullable=False),
        sa.Column("channel_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "alert_events",
        *_base(),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _fk("alert_events", "org_id", "orgs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
        sa.UniqueConstraint("org_id", "dedup_key", name="uq_alert_events_dedup"),
    )
    op.create_index(op.f("ix_alert_events_org_id"), "alert_events", ["org_id"])
    op.create_table(
        "alert_deliveries",
        *_base(),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _fk("alert_deliveries", "event_id", "alert_events"),
        _fk("alert_deliveries", "channel_id", "alert_channels"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index(op.f("ix_alert_deliveries_event_id"), "alert_deliveries", ["event_id"])
    op.create_index(op.f("ix_alert_deliveries_channel_id"), "alert_deliveries", ["channel_id"])
    op.create_table(
        "alert_delivery_attempts",
        *_base(),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        _fk("alert_delivery_attempts", "delivery_id", "alert_deliveries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_alert_delivery_attempts_delivery_id"), "alert_delivery_attempts", ["delivery_id"]
    )


def downgrade() -> None:
    for table in (
        "alert_delivery_attempts",
        "alert_deliveries",
        "alert_events",
        "budgets",
        "alert_channels",
    ):
        op.drop_table(table)
