"""The signing secret: generated once (mode 0600) in development, refused when missing or short
in staging/production — at start-up, before anything is served."""

from __future__ import annotations

import stat

import httpx
import pytest

from tests.auth.support import bearer, register
from tests.support.servers import live_server, server_process
from tokenomist.kit.resources import StartupError, open_resources
from tokenomist.settings import Environment, Settings


@pytest.mark.parametrize("environment", [Environment.staging, Environment.production])
@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "TOKENOMIST_JWT_SECRET is missing or a placeholder; {env} refuses to start"),
        ("changeme", "TOKENOMIST_JWT_SECRET is missing or a placeholder; {env} refuses to start"),
        ("s" * 31, "TOKENOMIST_JWT_SECRET is 31 bytes; {env} needs at least 32"),
    ],
    ids=["missing", "placeholder", "31-bytes"],
)
async def test_startup_refuses_a_missing_or_short_secret(tmp_path, environment, secret, message):
    settings = Settings(
        _env_file=None, environment=environment, data_dir=tmp_path, jwt_secret=secret
    )
    with pytest.raises(StartupError) as info:
        await open_resources(settings)
    assert str(info.value).startswith("startup failed: configuration: ")
    assert message.format(env=environment.value) in str(info.value)
    assert not (tmp_path / "jwt_secret").exists()  # nothing generated outside development


def test_production_server_process_exits_naming_the_secret(tmp_path) -> None:
    env = {"TOKENOMIST_ENVIRONMENT": "production", "TOKENOMIST_JWT_SECRET": "too-short"}
    with server_process(env, tmp_path / "data", ready=False) as proc:
        assert proc.wait_exit(60) != 0
        output = proc.output()
    assert "TOKENOMIST_JWT_SECRET is 9 bytes; production needs at least 32" in output


async def test_development_generates_one_private_secret_and_tokens_survive_restart(
    make_settings,
) -> None:
    settings = make_settings(environment=Environment.development, jwt_secret="")
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        body = await register(client)
    path = settings.data_dir / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    assert len(secret.encode()) >= 32

    again = make_settings(environment=Environment.development, jwt_secret="")
    async with live_server(again) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        me = await client.get("/auth/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert srv.resources.jwt_secret == secret
    assert path.read_text() == secret
