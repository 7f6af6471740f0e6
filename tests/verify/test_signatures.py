"""The catalogue classifies real error texts (produced here by real failures where that is cheap,
quoted from the libraries otherwise) into the right signature and class."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from tests.support.servers import free_port
from tokenomist.verify.probes import exception_signals
from tokenomist.verify.signatures import CatalogueError, default_catalogue, load, match


def classify_signals(signals: list[str], kind: str = "dependency") -> tuple[str, str]:
    m = match([*signals, f"check:{kind}"], default_catalogue())
    return m.signature.id, m.signature.klass


def test_catalogue_is_data_with_at_least_twenty_valid_entries() -> None:
    cat = load()
    assert len(cat) >= 20
    assert len({s.id for s in cat}) == len(cat)
    assert cat[-1].id == "fallback_unknown"  # every failure gets a class


def test_bad_catalogue_entry_names_the_entry_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "sig.toml"
    path.write_text(
        '[[signature]]\nid="x"\ntitle="t"\nclass="network"\npatterns=["a"]\n'
        'cause="c"\nfix="f"\nconfirm_probe="p"\n'
    )
    with pytest.raises(CatalogueError, match=r"entry 1 \(x\): class 'network' is not one of"):
        load(path)
    path.write_text('[[signature]]\nid="y"\ntitle="t"\npatterns=["("]\n')
    with pytest.raises(CatalogueError, match=r"entry 1 \(y\): missing class, cause, fix"):
        load(path)


def test_real_unresolvable_host_is_dns_not_refused() -> None:
    try:
        socket.getaddrinfo("nonexistent.invalid", 6379)
    except socket.gaierror as exc:
        sig, klass = classify_signals(exception_signals(exc))
        expected = {socket.EAI_NONAME: "dns_eai_noname", socket.EAI_AGAIN: "dns_eai_again"}
        assert sig == expected.get(exc.errno, "dns_failure")
        assert klass == "infrastructure"
    else:
        pytest.fail("nonexistent.invalid resolved")


@pytest.mark.parametrize(
    ("errno_", "text", "sig"),
    [
        (socket.EAI_AGAIN, "Temporary failure in name resolution", "dns_eai_again"),
        (socket.EAI_NONAME, "Name or service not known", "dns_eai_noname"),
    ],
)
def test_getaddrinfo_errors_by_number(errno_: int, text: str, sig: str) -> None:
    exc = socket.gaierror(errno_, text)
    assert classify_signals(exception_signals(exc)) == (sig, "infrastructure")


def test_redis_wrapped_dns_error_text_names_the_host() -> None:
    m = match(
        ["Error -3 connecting to cache.internal:6379. Temporary failure in name resolution."],
        default_catalogue(),
    )
    assert m.signature.id == "dns_eai_again"
    assert m.values == {"host": "cache.internal", "port": "6379"}


async def test_real_connection_refused() -> None:
    port = free_port()
    with pytest.raises(httpx.ConnectError) as err:
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/")
    assert classify_signals(exception_signals(err.value), "health") == (
        "connection_refused",
        "infrastructure",
    )


async def _serve(handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_real_connection_reset_mid_request() -> None:
    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    server, port = await _serve(slam)
    try:
        with pytest.raises(httpx.RemoteProtocolError) as err:
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
    assert classify_signals(exception_signals(err.value), "auth")[0] == "connection_reset"


async def test_real_tls_to_a_plain_text_port_is_wrong_version() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server, port = await _serve(plain)
    try:
        with pytest.raises(httpx.ConnectError) as err:
            async with httpx.AsyncClient() as http:
                await http.get(f"https://127.0.0.1:{port}/")
    finally:
        server.close()
    assert "WRONG_VERSION_NUMBER" in str(err.value)
    assert classify_signals(exception_signals(err.value), "health") == (
        "tls_wrong_version",
        "configuration",
    )


def test_real_sqlalchemy_pool_exhausted_is_a_pool_not_a_network_timeout() -> None:
    engine = create_engine(
        "sqlite://", poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    first = engine.connect()
    try:
        with pytest.raises(Exception) as err:
            engine.connect()
    finally:
        first.close()
        engine.dispose()
    assert "QueuePool limit of size 1 overflow 0 reached" in str(err.value)
    assert classify_signals(exception_signals(err.value), "suite") == (
        "sqlalchemy_pool_exhausted",
        "dependency_degraded",
    )


async def test_real_redis_wrongpass(redis_url: str) -> None:
    host_port = redis_url.split("//")[1].split("/")[0]
    client = aioredis.Redis.from_url(f"redis://nobody-verify:wrong@{host_port}/15")
    try:
        with pytest.raises(Exception) as err:
            await client.ping()
    finally:
        await client.aclose()
    assert classify_signals(exception_signals(err.value)) == ("redis_wrongpass", "configuration")


def test_real_jwt_issued_in_the_future_is_clock_skew() -> None:
    secret = "s" * 40
    token = jwt.encode({"iat": int(time.time()) + 600, "sub": "u"}, secret, algorithm="HS256")
    with pytest.raises(jwt.ImmatureSignatureError) as err:
        jwt.decode(token, secret, algorithms=["HS256"])
    assert classify_signals(exception_signals(err.value), "auth") == (
        "jwt_issued_in_future",
        "configuration",
    )


@pytest.mark.parametrize(
    ("signals", "kind", "sig", "klass"),
    [
        (
            ["asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already"],
            "dependency",
            "pg_too_many_clients",
            "dependency_degraded",
        ),
        (
            [
                "asyncpg.exceptions.ConnectionDoesNotExistError: connection was closed in the "
                "middle "
                "of operation"
            ],
            "suite",
            "asyncpg_connection_closed",
            "infrastructure",
        ),
        (
            [
                "Code: 102. DB::Exception: Unexpected packet from client (expected Hello, got "
                "Unknown packet 71 from client)"
            ],
            "dependency",
            "clickhouse_wrong_port",
            "configuration",
        ),
        (
            [
                "HTTPDriver for http://ch:9000 returned response code 400: Port 9000 is for "
                "clickhouse-client program"
            ],
            "dependency",
            "clickhouse_wrong_port",
            "configuration",
        ),
        (["NOAUTH Authentication required."], "dependency", "redis_noauth", "configuration"),
        (
            ["[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"],
            "health",
            "tls_verify_failed",
            "infrastructure",
        ),
        (["httpx.ConnectTimeout: timed out"], "health", "timeout", "infrastructure"),
        (
            ["http:502", "edge:502", "<html>502 Bad Gateway</html>"],
            "health",
            "edge_502",
            "infrastructure",
        ),
        (["http:503", "edge:503"], "auth", "edge_503", "infrastructure"),
        (["http:504", "edge:504"], "golden_path", "edge_504", "infrastructure"),
        (
            [
                "pytest:collection_error",
                "_pytest.pathlib.ImportPathMismatchError: import file mismatch",
            ],
            "collection",
            "pytest_import_mismatch",
            "test_defect",
        ),
        (
            ["pytest:collection_error", "E   ModuleNotFoundError: No module named 'nope'"],
            "collection",
            "pytest_import_error",
            "test_defect",
        ),
        (
            ["RuntimeWarning: coroutine 'fetch' was never awaited"],
            "suite",
            "coroutine_never_awaited",
            "test_defect",
        ),
        (
            [
                "RuntimeError: Task <Task pending> got Future <Future pending> attached to a "
                "different loop"
            ],
            "suite",
            "different_event_loop",
            "test_defect",
        ),
        (
            ["ws.close:1006", "WebSocket closed 1006: no close frame"],
            "golden_path",
            "ws_close_1006",
            "infrastructure",
        ),
        (["ws.close:1008"], "ws", "ws_close_1008", "configuration"),
        (["ws.close:1011"], "golden_path", "ws_close_1011", "product_regression"),
        (["ws.close:4401"], "resume", "ws_close_4401", "configuration"),
        (
            [
                "auth:provided_token_rejected",
                "auth.reason:bad_signature",
                "auth:fresh_token_accepted",
            ],
            "auth",
            "jwt_secret_mismatch",
            "configuration",
        ),
        (
            ["health.status:degraded", "latency:above_threshold"],
            "dependency",
            "dependency_latency",
            "dependency_degraded",
        ),
        (["event sequence wrong"], "golden_path", "fallback_product", "product_regression"),
    ],
)
def test_signature_table(signals: list[str], kind: str, sig: str, klass: str) -> None:
    assert classify_signals(signals, kind) == (sig, klass)


def test_provided_token_rejected_without_a_working_fresh_token_is_not_a_secret_mismatch() -> None:
    sig, _ = classify_signals(["auth:provided_token_rejected", "auth.reason:bad_signature"], "auth")
    assert sig != "jwt_secret_mismatch"


def test_real_sqlite_missing_table_is_migrations_not_applied() -> None:
    engine = create_engine("sqlite://")
    try:
        with pytest.raises(Exception) as err, engine.connect() as conn:
            conn.exec_driver_sql("UPDATE runs SET status = 'failed'")
    finally:
        engine.dispose()
    assert "no such table: runs" in str(err.value)
    assert classify_signals(exception_signals(err.value), "golden_path") == (
        "schema_not_migrated",
        "configuration",
    )


async def test_real_postgres_missing_relation_is_migrations_not_applied(pg_url: str) -> None:
    u = make_url(pg_url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    try:
        with pytest.raises(Exception) as err:
            await conn.execute("SELECT 1 FROM no_such_relation_here")
    finally:
        await conn.close()
    assert 'relation "no_such_relation_here" does not exist' in str(err.value)
    # Even as the log line under an app's 500, it is configuration, not a product regression.
    assert classify_signals([*exception_signals(err.value), "http:500"], "auth") == (
        "schema_not_migrated",
        "configuration",
    )
