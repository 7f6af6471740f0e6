"""The black-box staging suite: it talks to a deployment over HTTP/WebSocket only.

`pytest tests/staging --target URL` (or TOKENOMIST_VERIFY_TARGET, which `tokenomist verify
--suite tests/staging` sets). Without a target every test here is skipped, so the normal
`make test` run collects the suite without touching any server.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        default=None,
        help="Base URL of the deployment the staging suite checks (default: "
        "TOKENOMIST_VERIFY_TARGET).",
    )


def _target(config: pytest.Config) -> str | None:
    # getoption's default covers runs where this conftest is loaded after option parsing
    # (a plain `pytest` from the repository root).
    return config.getoption("--target", default=None) or os.environ.get("TOKENOMIST_VERIFY_TARGET")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = _target(config)
    skip = pytest.mark.skip(reason="staging suite: give --target URL or TOKENOMIST_VERIFY_TARGET")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.staging)
            if not target:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> str:
    url = _target(pytestconfig)
    assert url, "no --target"
    return url.rstrip("/")


@pytest.fixture(scope="session")
def http(target: str):
    with httpx.Client(base_url=target, timeout=15) as client:
        yield client


@pytest.fixture(scope="session")
def credentials(http: httpx.Client) -> tuple[str, str]:
    """The verifier's user (env), or a fresh one registered when sign-up is on."""
    email = os.environ.get("TOKENOMIST_VERIFY_USER")
    password = os.environ.get("TOKENOMIST_VERIFY_PASSWORD")
    if email and password:
        return email, password
    email = f"staging-{uuid.uuid4().hex[:12]}@verify.tokenomist.dev"
    password = f"St-{uuid.uuid4().hex}"
    resp = http.post("/auth/register", json={"email": email, "password": password})
    assert resp.status_code == 201, f"register for the staging suite: {resp.text}"
    return email, password


@pytest.fixture(scope="session")
def access_token(http: httpx.Client, credentials: tuple[str, str]) -> str:
    email, password = credentials
    resp = http.post("/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


@pytest.fixture
def ws_url(target: str) -> str:
    return target.replace("https://", "wss://").replace("http://", "ws://") + "/ws"
