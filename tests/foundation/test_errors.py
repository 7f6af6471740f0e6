from __future__ import annotations

import httpx
from fastapi import APIRouter
from sqlalchemy.exc import DataError, OperationalError

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


async def test_unexpected_errors_keep_the_request_id_and_their_real_status_in_metrics(
    make_settings,
):
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @router.get("/sql-down")
    async def sql_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))

    server = LiveServer(make_settings())
    server.app.include_router(router)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            boom_r = await client.get("/boom", headers={"X-Request-ID": "req-boom"})
            down_r = await client.get("/sql-down", headers={"X-Request-ID": "req-down"})
            metrics = (await client.get("/metrics")).text
    finally:
        await server.stop()
    assert boom_r.status_code == 500
    assert boom_r.headers["x-request-id"] == "req-boom"
    assert down_r.status_code == 503
    assert down_r.json()["error"]["code"] == "dependency_unavailable"
    assert down_r.headers["x-request-id"] == "req-down"
    assert 'tokenomist_http_requests_total{method="GET",route="/sql-down",status="503"} 1.0' in (
        metrics
    )
    assert 'tokenomist_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in (
        metrics
    )


async def test_a_bad_statement_whose_parameters_mention_a_timeout_is_not_an_outage(
    make_settings,
):
    router = APIRouter()

    @router.get("/bad-row")
    async def bad_row() -> None:
        raise DataError(
            "INSERT INTO messages (content) VALUES (?)",
            ("why do our calls hit a timeout over TLS?",),
            ValueError("invalid byte sequence for encoding UTF8"),
        )

    server = LiveServer(make_settings())
    server.app.include_router(router)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.get("/bad-row")
    finally:
        await server.stop()
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"


def test_postgres_starting_up_or_out_of_slots_is_an_outage_not_a_bug() -> None:
    from tokenomist.kit.errors import _sql_unavailable

    class PgError(Exception):  # the shape of SQLAlchemy's adapted asyncpg errors
        def __init__(self, message: str, sqlstate: str) -> None:
            super().__init__(message)
            self.sqlstate = sqlstate

    starting = PgError("the database system is starting up", "57P03")
    full = PgError("sorry, too many clients already", "53300")
    unique = PgError('duplicate key value violates unique constraint "uq_users_email"', "23505")
    assert _sql_unavailable(OperationalError("SELECT 1", {}, starting))
    assert _sql_unavailable(OperationalError("SELECT 1", {}, full))
    assert not _sql_unavailable(OperationalError("INSERT", {}, unique))
