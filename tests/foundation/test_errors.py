from __future__ import annotations

import httpx
from fastapi import APIRouter

from tests.support.servers import LiveServer


async def test_unexpected_errors_answer_a_json_500_not_a_dropped_connection(make_settings):
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    server = LiveServer(make_settings())
    server.app.include_router(router)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.get("/boom")
    finally:
        await server.stop()
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; the server log has the details",
        }
    }
