"""usage: ingest claims, one row per (org, request_id) landed, shared by every instance

Revision ID: 0005_usage_claims
Revises: 0004_alerts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tokenomist.kit.db import UTCDateTime

revision: str = "0005_usage_claims"
down_revision: str | None = "0004_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_claims",
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "request_id", name=op.f("pk_usage_claims")),
    )


def downgrade() -> None:
    op.drop_table("usage_claims")
