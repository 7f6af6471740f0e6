"""Start-up validation: a required dependency failing stops start-up with one clear line."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy.engine import make_url

from tests.support.servers import free_port, server_process
from tests.support.tcpproxy import TcpProxy
from tokenomist.kit.resources import StartupError, open_resources


async def test_unreachable_postgres_names_dependency_masked_url_and_cause(make_settings):
    port = free_port()
    settings = make_settings(
        database_url=f"postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/tk", startup_timeout_s=2
    )
    with pytest.raises(StartupError) as info:
        await open_resources(settings)
    line = str(info.value)
    assert line.startswith(
        f"startup failed: PostgreSQL at postgresql+asyncpg://app:***@127.0.0.1:{port}/tk "
        "unreachable: connection refused"
    )
    assert "hunter2" not in line and "\n" not in line


async def test_unresolvable_postgres_is_dns(make_settings):
    settings = make_settings(
        database_url="postgresql+asyncpg://app@db.nonexistent.invalid:5432/tk",
        startup_timeout_s=3,
    )
    with pytest.raises(StartupError, match=r"PostgreSQL at .* unreachable: DNS lookup failed"):
        await open_resources(settings)


async def test_a_slow_postgres_answers_slowly_with_its_figure_not_unreachable(
    make_settings, pg_url
):
    # 1 s per round trip: connecting (several round trips) cannot fit a 2 s bound, but
    # PostgreSQL does answer; the line says so, with the figure, and what to change.
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432, delay_s=0.5)
    port = await proxy.start()
    try:
        via = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        with pytest.raises(StartupError) as info:
            await open_resources(make_settings(database_url=via, startup_timeout_s=2))
    finally:
        await proxy.stop()
    line = str(info.value)
    assert line.startswith(
        f"startup failed: PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:{port}/"
    )
    found = re.search(r" answers slowly \((\d+) ms per round trip\): start-up did not finish", line)
    assert found and int(found.group(1)) >= 1000, line
    assert "raise TOKENOMIST_STARTUP_TIMEOUT_S" in line and "unreachable" not in line


async def test_a_postgres_port_that_never_answers_does_not_answer(make_settings):
    # A listener that accepts and then says nothing (a black-holed path, a hung server).
    accepted: list[asyncio.StreamWriter] = []

    async def _silent(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)

    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = make_settings(
            database_url=f"postgresql+asyncpg://app@127.0.0.1:{port}/tk", startup_timeout_s=1
        )
        with pytest.raises(StartupError) as info:
            await open_resources(settings)
    finally:
        for w in accepted:
            w.close()
        server.close()
    assert str(info.value) == (
        f"startup failed: PostgreSQL at postgresql+asyncpg://app@127.0.0.1:{port}/tk "
        "does not answer: no answer within 1s"
    )


async def test_required_cache_can_be_enforced(make_settings):
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", startup_require_cache=True
    )
    with pytest.raises(
        StartupError,
        match=r"Redis at redis://127\.0\.0\.1:\d+/0 unreachable: "
        "connection refused",
    ):
        await open_resources(settings)


async def test_production_refuses_a_missing_jwt_secret(make_settings):
    settings = make_settings(environment="production", jwt_secret="")
    with pytest.raises(StartupError, match="TOKENOMIST_JWT_SECRET is missing"):
        await open_resources(settings)


def test_server_process_exits_with_the_line_for_an_unusable_analytics_dir(tmp_path):
    # A path below a regular file cannot be created by anyone, root included (modes would not
    # stop root).
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    chdb_dir = blocker / "chdb"
    with server_process({"TOKENOMIST_CHDB_DIR": str(chdb_dir)}, tmp_path, ready=False) as srv:
        code = srv.wait_exit(60)
        out = srv.output()
    assert code != 0
    assert f"startup failed: chDB at chdb://{chdb_dir} unreachable: " in out
    assert "Not a directory" in out


async def test_a_failing_domain_stop_still_stops_the_others_and_closes_the_tiers(
    make_settings, monkeypatch
):
    import types

    from tests.support.servers import LiveServer
    from tokenomist import app as app_module

    stopped: list[str] = []

    async def _start(resources) -> None:
        return None

    async def _stop_ok(resources) -> None:
        stopped.append("first")

    async def _stop_broken(resources) -> None:
        raise RuntimeError("stop failed")

    first = types.SimpleNamespace(__name__="first", start=_start, stop=_stop_ok)
    broken = types.SimpleNamespace(__name__="broken", start=_start, stop=_stop_broken)
    real = app_module._domain_lifecycles
    monkeypatch.setattr(app_module, "_domain_lifecycles", lambda: [first, *real(), broken])
    server = LiveServer(make_settings())
    await server.start()
    cache = server.resources.cache
    await cache.set("k", "v")
    await server.stop()
    assert stopped == ["first"]  # stopped after the broken one, in reverse order
    assert await cache.get("k") is None  # close_resources ran: the memory cache was closed


@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            {"redis_url": "redis://:s3cret@cache:63x9/0"},
            "startup failed: Redis URL redis://:***@cache:63x9/0 is not usable: Port could not "
            "be cast to integer value as '63x9'",
        ),
        (
            {"database_url": "postgresql+nodriver://app:s3cret@127.0.0.1:5432/tk"},
            "startup failed: SQL database URL postgresql+nodriver://app:***@127.0.0.1:5432/tk "
            "is not usable: NoSuchModuleError: Can't load plugin: "
            "sqlalchemy.dialects:postgresql.nodriver",
        ),
    ],
)
async def test_a_malformed_dependency_url_stops_start_up_with_one_line(
    make_settings, override, line
):
    with pytest.raises(StartupError) as info:
        await open_resources(make_settings(**override))
    assert str(info.value).startswith(line)
    assert "s3cret" not in str(info.value)


async def test_a_domain_that_fails_to_start_logs_the_startup_failed_line(
    make_settings, monkeypatch, capsys
):
    import types

    from tokenomist import app as app_module
    from tokenomist.app import create_app

    async def _start(resources) -> None:
        raise ConnectionError("bus backend unreachable")

    async def _stop(resources) -> None:
        return None

    broken = types.SimpleNamespace(__name__="tokenomist.broken", start=_start, stop=_stop)
    monkeypatch.setattr(app_module, "_domain_lifecycles", lambda: [broken])
    app = create_app(make_settings())
    with pytest.raises(ConnectionError):
        async with app.router.lifespan_context(app):
            pass
    err = capsys.readouterr().err
    assert (
        "startup failed: tokenomist.broken did not start: ConnectionError: bus backend unreachable"
        in err
    )


def _serve_on_an_unusable_data_dir(tmp_path, *args: str, env: dict[str, str] | None = None):
    import os
    import subprocess
    import sys

    from tests.support.servers import free_port

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    return subprocess.run(
        [sys.executable, "-m", "tokenomist", "serve", "--port", str(free_port()), *args],
        env={
            **os.environ,
            "TOKENOMIST_ENVIRONMENT": "test",
            "TOKENOMIST_DATA_DIR": str(blocker / "data"),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_start_up_failure_prints_its_one_line_and_no_traceback(tmp_path):
    proc = _serve_on_an_unusable_data_dir(tmp_path)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "startup failed: " in lines[0] and "Not a directory" in lines[0]


@pytest.mark.parametrize(
    ("args", "env"), [(("--debug",), None), ((), {"TOKENOMIST_LOG_LEVEL": "debug"})]
)
def test_debugging_a_start_up_failure_shows_the_traceback(tmp_path, args, env):
    proc = _serve_on_an_unusable_data_dir(tmp_path, *args, env=env)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "startup failed: " in out
    assert "Traceback (most recent call last)" in out and "NotADirectoryError" in out


def test_a_reachable_redis_rejecting_the_password_is_authentication_failed_not_unreachable(
    tmp_path, redis_url
):
    host_port = redis_url.split("//")[1].split("/")[0]
    wrong = f"redis://nobody-startup:wrong-pass@{host_port}/15"
    env = {"TOKENOMIST_REDIS_URL": wrong, "TOKENOMIST_STARTUP_TIMEOUT_S": "60"}
    with server_process(env, tmp_path) as srv:
        out = srv.output()
    [line] = [ln for ln in out.splitlines() if "startup.cache_degraded" in ln]
    assert f"Redis at redis://nobody-startup:***@{host_port}/15 authentication failed: " in line
    assert "unreachable" not in line and "wrong-pass" not in line
    assert "serving on in-process cache" in line
