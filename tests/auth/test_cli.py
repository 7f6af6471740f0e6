"""``tokenomist users create`` as an operator runs it (a subprocess on the configured
database), then the account is used over HTTP with sign-up disabled."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.auth.support import unique_email
from tests.support.servers import live_server


def _users_create(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOKENOMIST_")}
    return subprocess.run(
        [sys.executable, "-m", "tokenomist", "users", "create", *args],
        env={**clean, "TOKENOMIST_ENVIRONMENT": "test", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_users_create_then_login_with_signup_disabled(make_settings, sql_backend) -> None:
    settings = make_settings(sql=sql_backend, signup_enabled=False)
    env = {"TOKENOMIST_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["TOKENOMIST_DATABASE_URL"] = settings.database_url
    org = f"Staging {unique_email('org')}"
    owner, member = unique_email("op"), unique_email("qa")

    first = _users_create(env, "--email", owner, "--password", "operator pass 1", "--org", org)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"user {owner} (owner) created in org {org!r}")
    second = _users_create(env, "--email", member, "--password", "operator pass 2", "--org", org)
    assert second.returncode == 0, second.stderr
    assert f"user {member} (member) created in org {org!r}" in second.stdout
    repeat = _users_create(env, "--email", owner.upper(), "--password", "a different one")
    assert repeat.returncode == 0
    assert "already exists (left unchanged)" in repeat.stdout

    weak = _users_create(env, "--email", unique_email("weak"), "--password", "short")
    assert weak.returncode == 2
    assert "refused: password must be at least 10 characters" in weak.stderr
    bad = _users_create(env, "--email", "nobody", "--password", "long enough pass")
    assert bad.returncode == 2
    assert "--email: email must look like name@domain.tld" in bad.stderr

    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        login = await client.post(
            "/auth/login", json={"email": owner, "password": "operator pass 1"}
        )
        assert login.status_code == 200  # the original password: the repeat changed nothing
        member_login = await client.post(
            "/auth/login", json={"email": member, "password": "operator pass 2"}
        )
        assert member_login.status_code == 200
        assert member_login.json()["user"]["org"] == login.json()["user"]["org"]
        assert member_login.json()["user"]["role"] == "member"
        assert login.json()["user"]["org"]["name"] == org


def test_users_create_names_an_unreachable_database(tmp_path) -> None:
    env = {
        "TOKENOMIST_DATA_DIR": str(tmp_path),
        "TOKENOMIST_DATABASE_URL": "postgresql+asyncpg://tk:s3cret@127.0.0.1:1/tk",
    }
    result = _users_create(env, "--email", unique_email(), "--password", "long enough pass")
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "s3cret" not in result.stderr
