"""``/docs`` (Swagger UI) and ``/redoc`` in a real Chromium that can reach no other host: the
pages render every operation from this server's own assets."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.env import IN_CI
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow


@pytest.fixture
async def offline_page(embedded_server):
    """A page whose requests to any host but the server are refused (and recorded)."""
    if CHROMIUM is None:
        message = "Chromium not installed (Debian package chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    server = urlsplit(embedded_server.url).netloc
    elsewhere: list[str] = []

    async def only_the_server(route) -> None:
        if urlsplit(route.request.url).netloc == server:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        await context.route("**/*", only_the_server)
        page = await context.new_page()
        yield page, embedded_server.url, elsewhere
        await browser.close()


async def test_swagger_ui_renders_the_operations_offline(offline_page) -> None:
    page, url, elsewhere = offline_page
    await page.goto(url + "/docs")
    await page.wait_for_selector(".opblock", timeout=30_000)
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    paths = [p.replace("\u200b", "") for p in paths]  # Swagger UI puts break hints in paths
    assert {"/api/v1/usage", "/api/v1/usage/import", "/v1/traces", "/metrics"} <= set(paths)
    # the import operation lists the media types it accepts, and its error answers
    op = page.locator(".opblock-post", has=page.locator("[data-path='/api/v1/usage/import']"))
    await op.locator(".opblock-summary").click()
    body_types = await op.locator(".opblock-section-request-body select option").all_inner_texts()
    assert {"text/csv", "multipart/form-data", "application/x-ndjson"} <= set(body_types)
    codes = await op.locator(".responses-table .response-col_status").all_inner_texts()
    assert {"401", "413", "422"} <= {c.strip() for c in codes}
    assert elsewhere == []


async def test_redoc_renders_the_operations_offline(offline_page) -> None:
    page, url, elsewhere = offline_page
    await page.goto(url + "/redoc")
    await page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    assert await page.locator("[data-section-id^='operation/']").count() >= 20
    assert await page.get_by_text("/api/v1/usage/import").count() >= 1
    assert elsewhere == []
