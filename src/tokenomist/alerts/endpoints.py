"""Alerts HTTP API: channels, budgets, the event log, and the spend forecast."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from tokenomist.alerts import anomalies, repository, service, urlguard
from tokenomist.alerts.forecast import forecast
from tokenomist.alerts.schemas import (
    AlertListOut,
    AnomalyOut,
    BudgetIn,
    BudgetListOut,
    BudgetOut,
    BudgetPatch,
    ChannelCreatedOut,
    ChannelIn,
    ChannelListOut,
    ChannelOut,
    ChannelTestOut,
    ForecastOut,
    Period,
)
from tokenomist.auth.dependencies import CurrentUser, Principal, require_scope
from tokenomist.kit.db import SessionDep
from tokenomist.kit.errors import NotFound, Unprocessable
from tokenomist.kit.hygiene import InRangeDatetime
from tokenomist.kit.resources import ResourcesDep
from tokenomist.usage.endpoints import known_params, window_params

router = APIRouter(tags=["alerts"])
ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]
ScopeValue = Annotated[str | None, Query(min_length=1, max_length=200)]


# -- channels: managed by signed-in users (a channel's secret is shown to its creator) --------


@router.post("/api/v1/alert-channels", status_code=201)
async def create_channel(
    body: ChannelIn, principal: CurrentUser, session: SessionDep, resources: ResourcesDep
) -> ChannelCreatedOut:
    # Refused here (422 naming url) and again at each delivery on the address connected to.
    await urlguard.check_url(str(body.url), resources.settings.alerts_allow_private_urls)
    row, secret = await service.create_channel(session, principal.org_id, body)
    return ChannelCreatedOut(**ChannelOut.model_validate(row).model_dump(), secret=secret)


@router.get("/api/v1/alert-channels")
async def list_channels(principal: ReadPrincipal, session: SessionDep) -> ChannelListOut:
    rows = await repository.channels(session, principal.org_id)
    return ChannelListOut(items=[ChannelOut.model_validate(r) for r in rows])


@router.delete("/api/v1/alert-channels/{channel_id}", status_code=204)
async def delete_channel(channel_id: str, principal: CurrentUser, session: SessionDep) -> Response:
    if not await repository.delete_channel(session, principal.org_id, channel_id):
        raise NotFound(f"no alert channel {channel_id!r} in this org", code="channel_not_found")
    return Response(status_code=204)


@router.post("/api/v1/alert-channels/{channel_id}/test")
async def test_channel(
    channel_id: str, principal: CurrentUser, session: SessionDep, resources: ResourcesDep
) -> ChannelTestOut:
    """Send a ``channel.test`` event now; the answer says whether the channel took it."""
    return ChannelTestOut(
        **await service.test_channel(resources, session, principal.org_id, channel_id)
    )


# -- budgets ---------------------------------------------------------------------------------


def _poke(resources: ResourcesDep) -> None:
    if resources.alerts is not None:
        resources.alerts.poke()


@router.post("/api/v1/budgets", status_code=201)
async def create_budget(
    body: BudgetIn, principal: CurrentUser, session: SessionDep, resources: ResourcesDep
) -> BudgetOut:
    row = await service.create_budget(session, principal.org_id, body)
    out = BudgetOut(**await service.budget_out(resources, row))
    _poke(resources)  # a budget already past a threshold fires without waiting for a cycle
    return out


@router.get("/api/v1/budgets")
async def list_budgets(
    principal: ReadPrincipal, session: SessionDep, resources: ResourcesDep
) -> BudgetListOut:
    rows = await repository.budgets(session, principal.org_id)
    return BudgetListOut(items=[BudgetOut(**await service.budget_out(resources, r)) for r in rows])


@router.get("/api/v1/budgets/{budget_id}")
async def get_budget(
    budget_id: str, principal: ReadPrincipal, session: SessionDep, resources: ResourcesDep
) -> BudgetOut:
    row = await service.get_budget(session, principal.org_id, budget_id)
    return BudgetOut(**await service.budget_out(resources, row))


@router.patch("/api/v1/budgets/{budget_id}")
async def update_budget(
    budget_id: str,
    body: BudgetPatch,
    principal: CurrentUser,
    session: SessionDep,
    resources: ResourcesDep,
) -> BudgetOut:
    row = await service.update_budget(session, principal.org_id, budget_id, body)
    out = BudgetOut(**await service.budget_out(resources, row))
    _poke(resources)
    return out


@router.delete("/api/v1/budgets/{budget_id}", status_code=204)
async def delete_budget(budget_id: str, principal: CurrentUser, session: SessionDep) -> Response:
    row = await service.get_budget(session, principal.org_id, budget_id)
    await session.delete(row)
    await session.flush()
    return Response(status_code=204)


# -- events and forecast ---------------------------------------------------------------------


@router.get("/api/v1/alerts", dependencies=[known_params("limit")])
async def list_alerts(
    principal: ReadPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertListOut:
    """The org's alert events, newest first, each with its deliveries and their attempts."""
    items = await service.list_alerts(session, principal.org_id, limit)
    return AlertListOut.model_validate({"items": items}, from_attributes=True)


@router.get(
    "/api/v1/usage/forecast",
    dependencies=[known_params("period", "provider", "model", "project", "feature", "end_user")],
)
async def usage_forecast(
    principal: ReadPrincipal,
    resources: ResourcesDep,
    period: Period = "month",
    provider: ScopeValue = None,
    model: ScopeValue = None,
    project: ScopeValue = None,
    feature: ScopeValue = None,
    end_user: ScopeValue = None,
) -> ForecastOut:
    """Spend so far in the current UTC period and where it is heading, with an interval."""
    scope = {
        "provider": provider,
        "model": model,
        "project": project,
        "feature": feature,
        "end_user": end_user,
    }
    fc = await forecast(resources.org_usage(principal.org_id), scope, period, service.now_utc())
    return ForecastOut(**fc.out())


@router.get(
    "/api/v1/anomalies",
    response_model=list[AnomalyOut],
    response_model_by_alias=True,
    dependencies=[known_params("from", "to", "granularity")],
)
async def list_anomalies(
    principal: ReadPrincipal,
    resources: ResourcesDep,
    from_: Annotated[InRangeDatetime | None, Query(alias="from")] = None,
    to: Annotated[InRangeDatetime | None, Query()] = None,
    granularity: anomalies.Granularity = "day",
) -> list[dict]:
    """Spend anomalies of the days (or hours) touching [from, to) (default: the last 7 days),
    each against its seasonal baseline, with drivers that add up to the difference."""
    start, end = window_params(from_, to)
    now = service.now_utc()
    end = end or now
    start = start or end - timedelta(days=7)
    if end - start > anomalies.MAX_SPAN[granularity]:
        days = anomalies.MAX_SPAN[granularity].days
        raise Unprocessable(
            f"the window is at most {days} days with granularity={granularity}",
            details=[{"field": "query.from", "message": f"at most {days} days before 'to'"}],
        )
    found = await anomalies.detect(
        resources.org_usage(principal.org_id),
        start,
        end,
        now,
        granularity,
        resources.settings.alerts_anomaly_min_usd,
    )
    return [a.out() for a in found]
