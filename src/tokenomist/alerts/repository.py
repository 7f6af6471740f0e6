"""SQL for the alert tables. Everything here only flushes; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tokenomist.alerts.models import (
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    Budget,
    DeliveryAttempt,
)


async def channels(session: AsyncSession, org_id: str) -> list[AlertChannel]:
    rows = await session.scalars(
        select(AlertChannel).where(AlertChannel.org_id == org_id).order_by(AlertChannel.created_at)
    )
    return list(rows)


async def channel(session: AsyncSession, org_id: str, channel_id: str) -> AlertChannel | None:
    return await session.scalar(
        select(AlertChannel).where(AlertChannel.org_id == org_id, AlertChannel.id == channel_id)
    )


async def delete_channel(session: AsyncSession, org_id: str, channel_id: str) -> bool:
    result = await session.execute(
        delete(AlertChannel).where(AlertChannel.org_id == org_id, AlertChannel.id == channel_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def budgets(session: AsyncSession, org_id: str | None = None) -> list[Budget]:
    """One org's budgets, or every org's (for the evaluator)."""
    query = select(Budget).order_by(Budget.created_at, Budget.id)
    if org_id is not None:
        query = query.where(Budget.org_id == org_id)
    return list(await session.scalars(query))


async def budget(session: AsyncSession, org_id: str, budget_id: str) -> Budget | None:
    return await session.scalar(
        select(Budget).where(Budget.org_id == org_id, Budget.id == budget_id)
    )


async def event_exists(session: AsyncSession, org_id: str, dedup_key: str) -> bool:
    found = await session.scalar(
        select(AlertEvent.id).where(AlertEvent.org_id == org_id, AlertEvent.dedup_key == dedup_key)
    )
    return found is not None


async def add_event(
    session: AsyncSession, event: AlertEvent, channel_ids: list[str], now: datetime
) -> list[AlertDelivery] | None:
    """Insert the event and one pending delivery per channel, or None when an event with the
    same dedup key already exists (the unique constraint decides, also across instances)."""
    # INSERT … ON CONFLICT DO NOTHING: the constraint decides atomically, and a lost race
    # leaves the session usable (a failed flush would not).
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(AlertEvent)
        .values(
            id=event.id,
            created_at=event.created_at,
            org_id=event.org_id,
            type=event.type,
            dedup_key=event.dedup_key,
            data=event.data,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "dedup_key"])
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    deliveries = [
        AlertDelivery(
            event_id=event.id, channel_id=cid, status="pending", attempts=0, next_attempt_at=now
        )
        for cid in channel_ids
    ]
    session.add_all(deliveries)
    await session.flush()
    return deliveries


async def due(
    session: AsyncSession, now: datetime, limit: int = 100
) -> list[tuple[AlertDelivery, AlertEvent, AlertChannel]]:
    rows = await session.execute(
        select(AlertDelivery, AlertEvent, AlertChannel)
        .join(AlertEvent, AlertEvent.id == AlertDelivery.event_id)
        .join(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
        .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now)
        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        .limit(limit)
    )
    return [(d, e, c) for d, e, c in rows]


async def next_due(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(AlertDelivery.next_attempt_at)).where(AlertDelivery.status == "pending")
    )


async def events(session: AsyncSession, org_id: str, limit: int) -> list[AlertEvent]:
    rows = await session.scalars(
        select(AlertEvent)
        .where(AlertEvent.org_id == org_id)
        .order_by(AlertEvent.created_at.desc(), AlertEvent.id)
        .limit(limit)
    )
    return list(rows)


async def deliveries_of(
    session: AsyncSession, event_ids: list[str]
) -> list[tuple[AlertDelivery, list[DeliveryAttempt]]]:
    if not event_ids:
        return []
    ds = list(
        await session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.event_id.in_(event_ids))
            .order_by(AlertDelivery.created_at, AlertDelivery.id)
        )
    )
    attempts = (
        list(
            await session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id.in_([d.id for d in ds]))
                .order_by(DeliveryAttempt.number)
            )
        )
        if ds
        else []
    )
    by_delivery: dict[str, list[DeliveryAttempt]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(a)
    return [(d, by_delivery.get(d.id, [])) for d in ds]


async def orgs_with_channels(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(AlertChannel.org_id).distinct().order_by(AlertChannel.org_id)
    )
    return list(rows)
