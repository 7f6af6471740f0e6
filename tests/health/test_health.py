"""Health over real HTTP against a real server, each dependency faulted for real."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.servers import free_port, live_server
from tests.support.tcpproxy import TcpProxy
from tokenomist.kit.analytics import SCHEMA_STEPS
from tokenomist.kit.migrations import head_revision


async def _ready(srv) -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
        return await client.get("/health/ready")


async def test_live_answers_while_process_runs(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        r = await client.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "alive"}


@pytest.mark.parametrize(("sql", "cache"), [("sqlite", "memory"), ("postgresql", "redis")])
async def test_all_healthy_names_each_backend(make_settings, sql, cache):
    async with live_server(make_settings(sql=sql, cache=cache)) as srv:
        r = await _ready(srv)
        alias = await httpx.AsyncClient(base_url=srv.url).get("/health")
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "healthy"
    assert {k: v["backend"] for k, v in body["checks"].items()} == {
        "database": sql,
        "cache": cache,
        "analytics": "chdb",
    }
    assert all(c["status"] == "healthy" and c["latency_ms"] >= 0 for c in body["checks"].values())
    assert body["environment"] == "test" and body["version"]
    # Each store says the schema version the code needs and the one it has (here: the same).
    head, step = head_revision(), max(v for v, _, _ in SCHEMA_STEPS)
    assert body["checks"]["database"]["schema"] == {"current": head, "head": head}
    assert body["checks"]["analytics"]["schema"] == {"current": step, "head": step}
    assert alias.status_code == 200 and alias.json()["checks"].keys() == body["checks"].keys()


async def test_unresolvable_redis_is_degraded_with_dns_kind(make_settings):
    settings = make_settings(redis_url="redis://nonexistent.invalid:6379/0")
    async with live_server(settings) as srv:
        r = await _ready(srv)
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "degraded"
    cache = body["checks"]["cache"]
    assert cache["status"] == "unhealthy" and cache["backend"] == "redis"
    assert cache["error"]["kind"] == "dns"
    assert "DNS lookup failed" in cache["error"]["message"]


async def test_redis_on_closed_port_is_refused(make_settings):
    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with live_server(settings) as srv:
        body = (await _ready(srv)).json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["error"]["kind"] == "refused"


async def _pg_proxy(pg_url: str) -> tuple[TcpProxy, str]:
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    return proxy, url.set(port=port).render_as_string(hide_password=False)


async def test_sql_unreachable_is_unhealthy_503(make_settings, pg_url):
    proxy, via_proxy = await _pg_proxy(pg_url)
    try:
        async with live_server(make_settings(database_url=via_proxy)) as srv:
            proxy.drop = True
            await srv.resources.engine.dispose()  # no pooled connection to hide the outage
            r = await _ready(srv)
    finally:
        await proxy.stop()
    body = r.json()
    assert r.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "unhealthy"
    assert body["checks"]["database"]["backend"] == "postgresql"
    # The outage is the database's alone (analytics may read slow on a loaded machine, not down).
    assert body["checks"]["analytics"]["status"] != "unhealthy"


async def test_dependency_slower_than_threshold_is_degraded(make_settings, pg_url):
    proxy, via_proxy = await _pg_proxy(pg_url)
    try:
        settings = make_settings(database_url=via_proxy, health_thresholds_ms={"database": 100})
        async with live_server(settings) as srv:
            proxy.delay_s = 0.15  # each direction: a ping round trip takes >= 300 ms
            r = await _ready(srv)
    finally:
        await proxy.stop()
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "degraded"
    db = body["checks"]["database"]
    assert db["status"] == "degraded" and db["latency_ms"] > 100
    assert "answers slowly" in db["detail"] and "above the 100 ms threshold" in db["detail"]


async def test_a_slow_database_is_degraded_with_one_round_trip_not_down(make_settings, pg_url):
    # 0.7 s per round trip: a check timing checkout, pre-ping, BEGIN, prepare, execute and
    # ROLLBACK (about six round trips) passed the 2 s "down" bound and answered 503.
    proxy, via_proxy = await _pg_proxy(pg_url)
    try:
        settings = make_settings(
            database_url=via_proxy, health_check_timeout_s=2.0, startup_timeout_s=30
        )
        async with live_server(settings) as srv:
            proxy.delay_s = 0.35
            r = await _ready(srv)
    finally:
        await proxy.stop()
    body = r.json()
    assert r.status_code == 200, body
    db = body["checks"]["database"]
    assert (body["status"], db["status"]) == ("degraded", "degraded"), db
    # One round trip: at least the 700 ms the proxy adds, and below the "down" bound.
    assert 700 <= db["latency_ms"] < 2000, db
    assert f"answers slowly: {db['latency_ms']:.0f} ms per round trip" in db["detail"]
    assert "down after 2s" in db["detail"]


async def test_metrics_count_requests_and_dependency_latency(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        await client.get("/health/ready")
        text = (await client.get("/metrics")).text
    assert (
        'tokenomist_http_requests_total{method="GET",route="/health/ready",status="200"} 1.0'
        in text
    )
    assert (
        'tokenomist_dependency_check_duration_seconds_count{backend="chdb",dependency="analytics"}'
        in text
    )


async def test_request_id_is_echoed_or_made(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        given = await client.get("/health/live", headers={"X-Request-ID": "abc123"})
        made = await client.get("/health/live")
    assert given.headers["x-request-id"] == "abc123"
    assert len(made.headers["x-request-id"]) == 32


async def test_errors_use_the_error_envelope(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        r = await client.get("/no/such/path")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "Not Found"}}


async def test_requests_answer_503_naming_the_database_when_it_drops(make_settings, pg_url):
    proxy, via_proxy = await _pg_proxy(pg_url)
    try:
        async with (
            live_server(make_settings(database_url=via_proxy)) as srv,
            httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
        ):
            ok = await client.post(
                "/auth/register",
                json={"email": "before@example.com", "password": "long enough password"},
            )
            proxy.drop = True
            await srv.resources.engine.dispose()
            down = await client.post(
                "/auth/register",
                json={"email": "during@example.com", "password": "long enough password"},
            )
    finally:
        await proxy.stop()
    assert ok.status_code == 201
    assert down.status_code == 503
    error = down.json()["error"]
    assert error["code"] == "dependency_unavailable"
    host_port = via_proxy.split("@", 1)[1].split("/", 1)[0]
    assert error["message"].startswith(
        f"SQL database at postgresql+asyncpg://postgres@{host_port}/"
    )


async def test_analytics_busy_with_a_long_query_is_degraded_not_down(make_settings):
    # chDB runs a bounded number of queries at a time (one per worker): a health ping queued
    # behind long analyses on every worker must not take the instance out of the load balancer
    # (503), but it is not healthy either.
    settings = make_settings(health_check_timeout_s=0.1, analytics_workers=2)
    async with live_server(settings) as srv:
        analytics = srv.resources.analytics
        assert analytics.busy_detail() is None
        long_queries = [
            # 3 s each, whatever the machine's speed (and no CPU taken from the rest)
            asyncio.create_task(analytics.query("SELECT sum(sleepEachRow(1)) AS s FROM numbers(3)"))
            for _ in range(analytics.workers)
        ]
        while analytics.busy_detail() is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the workers pick the queries up
        r = await _ready(srv)
        for q in long_queries:
            q.cancel()  # the worker threads finish them; the server stop waits for them
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "degraded"
    check = body["checks"]["analytics"]
    assert check["status"] == "degraded"
    assert "chDB busy: 2 queries ahead on 2 workers" in check["detail"]
