"""Browser-test plumbing: Debian's Chromium through Playwright, servers on free ports, the app
behind a cuttable proxy with an LLM the test can hold. Helpers are in tests/support/ui.py."""

from __future__ import annotations

import pytest

from tests.support.env import IN_CI
from tests.support.servers import free_port, live_server
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, CuttableProxy, GatedLLM


@pytest.fixture
async def browser():
    if CHROMIUM is None:
        message = "Chromium not installed (Debian package chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def gated_llm():
    llm = GatedLLM()
    async with llm.serve():
        yield llm
    llm.release.set()


@pytest.fixture
async def proxied_server(make_settings, gated_llm):
    """The app behind a cuttable proxy; the browser talks to the proxy's origin."""
    port = free_port()
    proxy = CuttableProxy("127.0.0.1", port)
    await proxy.start()
    settings = make_settings(
        allowed_origins=[f"http://127.0.0.1:{proxy.port}"],
        llm="openai", llm_base_url=gated_llm.base_url, llm_api_key="test-key",
        llm_model="test-model", llm_timeout_s=60,
    )  # fmt: skip
    async with live_server(settings, port=port) as srv:
        srv.proxy = proxy
        srv.gated = gated_llm
        srv.page_url = f"http://127.0.0.1:{proxy.port}"
        yield srv
    await proxy.stop()


@pytest.fixture
async def demo_server(make_settings):
    port = free_port()
    settings = make_settings(demo=True, allowed_origins=[f"http://127.0.0.1:{port}"])
    async with live_server(settings, port=port) as srv:
        yield srv
