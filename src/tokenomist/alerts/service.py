"""Budgets and channels, evaluating budgets into events, and delivering due events.

Services only flush: a request's session is committed by its dependency, the evaluator's by
the ``transaction`` it opens per step.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tokenomist.alerts import anomalies, delivery, live, repository, urlguard
from tokenomist.alerts.forecast import Forecast, forecast
from tokenomist.alerts.models import AlertChannel, AlertEvent, Budget
from tokenomist.alerts.schemas import BudgetIn, BudgetPatch, ChannelIn
from tokenomist.kit.db import new_id, transaction
from tokenomist.kit.errors import NotFound, Unprocessable
from tokenomist.kit.resources import Resources

log = structlog.get_logger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- channels --------------------------------------------------------------------------------


async def create_channel(
    session: AsyncSession, org_id: str, body: ChannelIn
) -> tuple[AlertChannel, str | None]:
    secret = f"whsec_{secrets.token_urlsafe(32)}" if body.kind == "webhook" else None
    row = AlertChannel(
        org_id=org_id, kind=body.kind, name=body.name, url=str(body.url), secret=secret
    )
    session.add(row)
    await session.flush()
    return row, secret


async def get_channel(session: AsyncSession, org_id: str, channel_id: str) -> AlertChannel:
    row = await repository.channel(session, org_id, channel_id)
    if row is None:
        raise NotFound(f"no alert channel {channel_id!r} in this org", code="channel_not_found")
    return row


async def test_channel(
    resources: Resources, session: AsyncSession, org_id: str, channel_id: str
) -> dict[str, Any]:
    """A ``channel.test`` event, tried once now; if that fails it is retried like any other.
    The send comes before any write, so no database lock is held across the network call."""
    channel = await get_channel(session, org_id, channel_id)
    now = now_utc()
    event = AlertEvent(
        id=new_id(), created_at=now, org_id=org_id, type="channel.test", dedup_key=None,
        data={"channel_id": channel.id, "message": "test"},
    )  # fmt: skip
    async with _client(resources) as client:
        outcome = await delivery.send(client, event, channel)
    deliveries = await repository.add_event(session, event, [channel.id], now) or []
    session.add(delivery.record(deliveries[0], outcome, now_utc(), resources.settings))
    await session.flush()
    return {
        "event_id": event.id,
        "delivered": outcome.ok,
        "status_code": outcome.status_code,
        "error": outcome.error,
    }


# -- budgets ---------------------------------------------------------------------------------


async def _check_channels(session: AsyncSession, org_id: str, ids: list[str]) -> list[str]:
    known = {c.id for c in await repository.channels(session, org_id)}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise Unprocessable(
            f"unknown alert channel{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            code="validation_error",
            details=[
                {"field": f"channel_ids.{ids.index(u)}", "message": "no such channel"}
                for u in unknown
            ],
        )
    return list(dict.fromkeys(ids))


async def create_budget(session: AsyncSession, org_id: str, body: BudgetIn) -> Budget:
    row = Budget(
        org_id=org_id,
        name=body.name,
        scope=body.scope.model_dump(exclude_none=True),
        period=body.period,
        amount_usd=body.amount_usd,
        thresholds=body.thresholds,
        forecast_alert=body.forecast_alert,
        channel_ids=await _check_channels(session, org_id, body.channel_ids),
    )
    session.add(row)
    await session.flush()
    return row


async def get_budget(session: AsyncSession, org_id: str, budget_id: str) -> Budget:
    row = await repository.budget(session, org_id, budget_id)
    if row is None:
        raise NotFound(f"no budget {budget_id!r} in this org", code="budget_not_found")
    return row


async def update_budget(
    session: AsyncSession, org_id: str, budget_id: str, body: BudgetPatch
) -> Budget:
    row = await get_budget(session, org_id, budget_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "period", "amount_usd", "thresholds", "forecast_alert"):
        if changes.get(field) is not None:
            setattr(row, field, changes[field])
    if body.scope is not None:
        row.scope = body.scope.model_dump(exclude_none=True)
    if body.channel_ids is not None:
        row.channel_ids = await _check_channels(session, org_id, body.channel_ids)
    row.updated_at = now_utc()
    await session.flush()
    return row


async def budget_forecast(resources: Resources, budget: Budget, now: datetime) -> Forecast:
    return await forecast(resources.org_usage(budget.org_id), budget.scope, budget.period, now)


def status_of(budget: Budget, fc: Forecast) -> str:
    if fc.spent_usd >= budget.amount_usd:
        return "exceeded"
    if fc.forecast_usd > budget.amount_usd:
        return "forecast_exceeded"
    if fc.spent_usd >= min(budget.thresholds) * budget.amount_usd:
        return "warning"
    return "ok"


async def budget_out(resources: Resources, budget: Budget) -> dict[str, Any]:
    fc = await budget_forecast(resources, budget, now_utc())
    return {
        "id": budget.id,
        "name": budget.name,
        "scope": budget.scope,
        "period": budget.period,
        "amount_usd": budget.amount_usd,
        "thresholds": budget.thresholds,
        "forecast_alert": budget.forecast_alert,
        "channel_ids": budget.channel_ids,
        "created_at": budget.created_at,
        "period_start": fc.period_start,
        "period_end": fc.period_end,
        "spent_usd": fc.spent_usd,
        "forecast_usd": fc.forecast_usd,
        "status": status_of(budget, fc),
    }


# -- evaluation and delivery -----------------------------------------------------------------


def _budget_data(budget: Budget, fc: Forecast, threshold: float | None) -> dict[str, Any]:
    data = {
        "budget_id": budget.id,
        "budget_name": budget.name,
        "scope": budget.scope,
        "period": budget.period,
        "period_start": fc.period_start.isoformat(),
        "period_end": fc.period_end.isoformat(),
        "amount_usd": budget.amount_usd,
        "spent_usd": fc.spent_usd,
        "forecast_usd": fc.forecast_usd,
    }
    if threshold is not None:
        data["threshold"] = threshold
    return data


async def evaluate_budget(
    resources: Resources, session: AsyncSession, budget: Budget, now: datetime
) -> list[AlertEvent]:
    """Fire each threshold the period's spend has reached (and the forecast alert), once."""
    fc = await budget_forecast(resources, budget, now)
    start = fc.period_start.isoformat()
    wanted: list[tuple[str, str, float | None]] = [
        ("budget.threshold", f"budget.threshold:{budget.id}:{start}:{t:g}", t)
        for t in budget.thresholds
        if fc.spent_usd >= t * budget.amount_usd
    ]
    if (
        budget.forecast_alert
        and fc.spent_usd < budget.amount_usd
        and fc.forecast_usd > budget.amount_usd
    ):
        wanted.append(("budget.forecast", f"budget.forecast:{budget.id}:{start}", None))
    channels = {c.id for c in await repository.channels(session, budget.org_id)}
    targets = [c for c in budget.channel_ids if c in channels]
    fired = []
    for kind, key, threshold in wanted:
        if await repository.event_exists(session, budget.org_id, key):
            continue
        event = AlertEvent(
            id=new_id(),
            created_at=now,
            org_id=budget.org_id,
            type=kind,
            dedup_key=key,
            data=_budget_data(budget, fc, threshold),
        )
        if await repository.add_event(session, event, targets, now) is not None:
            fired.append(event)
            log.info("alerts.fired", org_id=budget.org_id, type=kind, key=key)
    return fired


async def evaluate_anomalies(
    resources: Resources, session: AsyncSession, org_id: str, now: datetime
) -> list[AlertEvent]:
    """One ``anomaly.spend`` event per anomaly of yesterday and today (by UTC day), to every
    channel of the org. The anomaly's id is the dedup key, so the day's anomaly is one event
    however often (and on however many instances) it is seen again."""
    start = anomalies.floor(now, "day") - timedelta(days=1)
    found = await anomalies.detect(
        resources.org_usage(org_id), start, now, now, "day",
        resources.settings.alerts_anomaly_min_usd,
    )  # fmt: skip
    if not found:
        return []
    targets = [c.id for c in await repository.channels(session, org_id)]
    fired = []
    for anomaly in found:
        key = f"anomaly.spend:{anomaly.id}"
        if await repository.event_exists(session, org_id, key):
            continue
        event = AlertEvent(
            id=new_id(), created_at=now, org_id=org_id, type="anomaly.spend", dedup_key=key,
            data=anomaly.out(),
        )  # fmt: skip
        if await repository.add_event(session, event, targets, now) is not None:
            fired.append(event)
            log.info("alerts.fired", org_id=org_id, type=event.type, key=key)
    return fired


async def evaluate_all(resources: Resources) -> list[AlertEvent]:
    fired: list[AlertEvent] = []
    async with transaction(resources.sessions) as session:
        budgets = await repository.budgets(session)
        orgs = await repository.orgs_with_channels(session)
    for budget in budgets:
        try:
            async with transaction(resources.sessions) as session:
                new = await evaluate_budget(resources, session, budget, now_utc())
            fired += new
            await live.announce(resources, new)  # committed: tell the org's open sockets
        except Exception:  # one budget's failure must not stop the others
            log.exception("alerts.evaluate_failed", budget_id=budget.id)
    if not resources.settings.alerts_anomaly_events:
        return fired
    for org_id in orgs:  # an org with nowhere to send an anomaly is not scanned
        try:
            async with transaction(resources.sessions) as session:
                new = await evaluate_anomalies(resources, session, org_id, now_utc())
            fired += new
            await live.announce(resources, new)
        except Exception:
            log.exception("alerts.anomalies_failed", org_id=org_id)
    return fired


def _client(resources: Resources) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=resources.settings.alerts_delivery_timeout_s,
        follow_redirects=False,
        transport=urlguard.guarded_transport(resources.settings.alerts_allow_private_urls),
    )


async def deliver_due(resources: Resources) -> int:
    """Try every delivery that is due; each attempt is committed as soon as it is known."""
    async with transaction(resources.sessions) as session:
        due = await repository.due(session, now_utc())
    sent = 0
    async with _client(resources) as client:
        for row, event, channel in due:
            outcome = await delivery.send(client, event, channel)
            async with transaction(resources.sessions) as session:
                fresh = await session.merge(row)
                session.add(delivery.record(fresh, outcome, now_utc(), resources.settings))
            sent += outcome.ok
            log.info(
                "alerts.attempt",
                event_id=event.id,
                channel_id=channel.id,
                ok=outcome.ok,
                status_code=outcome.status_code,
                attempt=row.attempts + 1,
            )
    return sent


async def next_due(resources: Resources) -> datetime | None:
    async with transaction(resources.sessions) as session:
        return await repository.next_due(session)


async def list_alerts(session: AsyncSession, org_id: str, limit: int) -> list[dict[str, Any]]:
    events = await repository.events(session, org_id, limit)
    pairs = await repository.deliveries_of(session, [e.id for e in events])
    by_event: dict[str, list[dict[str, Any]]] = {}
    for d, attempts in pairs:
        by_event.setdefault(d.event_id, []).append(
            {
                "id": d.id,
                "channel_id": d.channel_id,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "delivered_at": d.delivered_at,
                "last_error": d.last_error,
                "log": attempts,
            }
        )
    return [
        {**delivery.event_body(e), "created_at": e.created_at, "deliveries": by_event.get(e.id, [])}
        for e in events
    ]
