from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tokenomist.health import service
from tokenomist.kit.resources import ResourcesDep

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
@router.get("/health")
async def ready(resources: ResourcesDep) -> JSONResponse:
    status_code, body = await service.readiness(resources)
    return JSONResponse(body, status_code=status_code)


@router.get("/metrics")
async def metrics(resources: ResourcesDep) -> Response:
    registry = resources.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
