"""Fixtures for the analyst suites: the app over real HTTP, and one org per module holding the
question bank's rows (with and without a misleading LLM). Helpers: tests/support/analyst.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.analyst import bank
from tests.analyst.llm_server import FakeLLM
from tests.support.analyst import load, register
from tests.support.env import TEST_JWT_SECRET
from tests.support.servers import live_server
from tokenomist.settings import Environment, Settings


@pytest.fixture
async def app_server(make_settings, sql_backend):
    """The app over real HTTP on each SQL backend."""
    async with live_server(make_settings(sql=sql_backend)) as srv:
        yield srv


def _misleading_llm(question: str) -> dict:
    """A model that gets every usage question wrong (and knows small talk when it sees it)."""
    if question in bank.HELP:
        return {"kind": "help", "dimension": None, "period": {"kind": "default", "days": None},
                "filters": {}}  # fmt: skip
    return {"kind": "optimize", "dimension": "provider", "period": {"kind": "all", "days": None},
            "filters": {"model": "gemini-1.5-pro", "project": "legal"}}  # fmt: skip


@pytest.fixture(scope="module", params=["none", "llm"])
async def bank_org(request, tmp_path_factory, chdb_dir):
    overrides: dict[str, Any] = {}
    llm = None
    if request.param == "llm":
        llm = FakeLLM()
        llm.intent_for = _misleading_llm
        overrides = {"llm": "openai", "llm_base_url": llm.base_url, "llm_api_key": "k",
                     "llm_model": "test-model"}  # fmt: skip
    settings = Settings(
        _env_file=None,
        environment=Environment.test,
        data_dir=tmp_path_factory.mktemp("bank") / "data",
        chdb_dir=chdb_dir,
        analytics_database=f"t_{uuid.uuid4().hex[:12]}",
        jwt_secret=TEST_JWT_SECRET,
        **overrides,
    )
    if llm is not None:
        async with llm.serve(), live_server(settings) as srv:
            user = await register(srv.url)
            await load(srv, user.org_id, [r.record(i) for i, r in enumerate(bank.ROWS)])
            yield srv, user, request.param
    else:
        async with live_server(settings) as srv:
            user = await register(srv.url)
            await load(srv, user.org_id, [r.record(i) for i, r in enumerate(bank.ROWS)])
            yield srv, user, request.param
