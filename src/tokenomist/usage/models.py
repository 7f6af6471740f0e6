"""Usage's SQL table: which instance landed each (org, request_id).

The analytics tier holds the rows, but deciding "is this call new?" there is a read followed
by a write, which two instances can both pass at once. The claim is one ``INSERT … ON CONFLICT
DO NOTHING`` on this primary key instead: PostgreSQL lets exactly one transaction own each
key, and a second one wanting the same key waits until the first commits (it then gets
nothing back: duplicate) or rolls back (it gets the key). Ingest holds its claims' transaction
open across the analytics insert, so a failed insert releases them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tokenomist.kit.db import Base, UTCDateTime, utcnow


class UsageClaim(Base):
    __tablename__ = "usage_claims"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(Text, primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
