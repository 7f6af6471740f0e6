"""Page by page in Chromium on the seeded demo org: keyboard-only use, a 390 px phone with no
clipped table, the unreachable-server page, session refresh, reconnect after an idle close,
and markdown that cannot inject markup."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from tests.support.servers import free_port, live_server
from tests.support.ui import (
    DESKTOP,
    PHONE,
    api_get,
    demo_password,
    loaded,
    screenshot,
    sign_in,
    token_of,
    usd,
)
from tests.support.usage import FIXTURES

pytestmark = pytest.mark.slow
DEMO = "demo@tokenomist.local"


async def _tab_until(page, condition: str, limit: int = 80, key: str = "Tab") -> None:
    """Press Tab until ``condition`` (a JS expression on document.activeElement) holds."""
    for _ in range(limit):
        await page.keyboard.press(key)
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return {condition}; }})()"
        ):
            return
    raise AssertionError(f"focus never reached: {condition}")


async def test_keyboard_only_sign_in_and_ask(browser, demo_server):
    page = await browser.new_page(viewport=DESKTOP)
    await page.goto(demo_server.url + "/ask")
    # focus starts in the email field; no mouse from here on
    assert await page.evaluate("document.activeElement.name") == "email"
    await page.keyboard.type(DEMO)
    await page.keyboard.press("Tab")
    await page.keyboard.type(demo_password(demo_server))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/ask")  # back where the user was going
    await page.wait_for_selector("#conn[data-state=open]")
    assert await page.evaluate("document.activeElement.id") == "q"
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".report .headline", timeout=60_000)
    await page.wait_for_selector(".timeline .end")
    # every step can be opened from the keyboard
    await _tab_until(page, "!!el.closest('.step[data-agent=triage]')")
    await page.keyboard.press("Enter")
    assert await page.get_attribute(".step[data-agent=triage] details", "open") == ""
    # and the navigation is reachable by Tab
    await _tab_until(page, "el.textContent.trim() === 'Dashboard'", key="Shift+Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard")
    await loaded(page)


async def test_wrong_password_is_shown_and_nothing_connects(browser, demo_server):
    page = await browser.new_page()
    await page.goto(demo_server.url + "/")
    await page.fill("input[name=email]", DEMO)
    await page.fill("input[name=password]", "not the password at all")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not(:empty)")
    assert await page.inner_text("#login-error") == "email or password is incorrect"
    assert await page.is_hidden("#nav")


CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) out.push(`page ${page}px`);
  for (const t of document.querySelectorAll('table')) {
    const r = t.getBoundingClientRect();
    if (r.width && (r.right > width + 0.5 || r.left < -0.5 || t.scrollWidth > t.clientWidth + 1))
      out.push(`${t.className || 'table'} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return out;
}"""


async def test_a_phone_shows_every_page_with_no_clipped_table(browser, demo_server, tmp_path):
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, demo_server.url, DEMO, demo_password(demo_server))
    await loaded(page)
    assert await page.evaluate(CLIPPED) == []
    await screenshot(page, tmp_path, "dashboard-390.png")

    await page.click("#nav >> text=Ask")
    await page.wait_for_selector("#conn[data-state=open]")
    await page.click("#ask-submit")
    await page.wait_for_selector(".report table.strategies", timeout=60_000)
    await page.wait_for_selector(".timeline .end")
    await page.click(".report .writeup summary")  # the markdown table too
    assert await page.locator(".report table").count() >= 2
    assert await page.evaluate(CLIPPED) == []
    await page.locator(".report .headline").scroll_into_view_if_needed()
    await screenshot(page, tmp_path, "ask-390.png")

    await page.click("#nav >> text=Import")
    await page.wait_for_selector("#import-format option[value=canonical]", state="attached")
    await page.select_option("#import-format", "canonical")
    await page.set_input_files("#import-file", str(FIXTURES / "bad.ndjson"))
    await page.click("#import-submit")
    await page.wait_for_selector("table.errors")
    assert await page.inner_text("#count-rejected") == "8"
    assert await page.locator("table.errors tbody tr").count() == 8
    assert await page.evaluate(CLIPPED) == []
    # Records left out without being errors are counted and named.
    await page.select_option("#import-format", "")
    await page.set_input_files("#import-file", str(FIXTURES / "otlp.json"))
    await page.click("#import-submit")
    await page.wait_for_selector("#result-title >> text=otlp.json")
    assert await page.inner_text("#count-skipped") == "1"
    why = await page.inner_text("#skipped-reasons")
    assert "spans without GenAI usage (not LLM calls, or a stream without usage): 1" in why
    assert await page.evaluate(CLIPPED) == []
    await screenshot(page, tmp_path, "import-390.png")

    await page.click("#nav >> text=API keys")
    await page.fill("input[name=name]", "phone")
    await page.click("#key-create")
    await page.wait_for_selector("table.keys")
    assert await page.evaluate(CLIPPED) == []
    await screenshot(page, tmp_path, "api-keys-390.png")


async def test_unreachable_server_gets_a_clear_page_and_a_retry(browser, demo_server):
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, demo_server.url, DEMO, demo_password(demo_server))
    await loaded(page)
    await page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    await page.click("#nav >> text=Import")
    await page.wait_for_selector("#offline-title")
    assert await page.inner_text("#offline-title") == "Tokenomist can't be reached"
    assert await page.evaluate("document.activeElement.id") == "retry"
    await page.unroute("**/api/v1/**")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#import-format option[value=canonical]", state="attached")


async def test_an_expired_access_token_is_refreshed_without_signing_out(browser, demo_server):
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, demo_server.url, DEMO, demo_password(demo_server))
    await loaded(page)
    before = await page.evaluate("sessionStorage.getItem('tokenomist.session')")
    # the stored access token stops working (as when it expires); the refresh token still does
    await page.evaluate(
        "() => { const s = JSON.parse(sessionStorage.getItem('tokenomist.session'));"
        " s.access_token = 'expired.' + s.access_token; s.refresh_at = Date.now() + 3600e3;"
        " sessionStorage.setItem('tokenomist.session', JSON.stringify(s)); }"
    )
    await page.reload()
    await loaded(page)
    after = await page.evaluate("JSON.parse(sessionStorage.getItem('tokenomist.session'))")
    assert after["access_token"] not in before and after["refresh_token"] not in before
    assert await page.is_visible("#nav")


async def test_an_idle_close_reconnects_and_ask_still_works(browser, make_settings):
    port = free_port()
    settings = make_settings(
        demo=True, allowed_origins=[f"http://127.0.0.1:{port}"], ws_idle_timeout_s=1.0
    )
    async with live_server(settings, port=port) as srv:
        page = await browser.new_page(viewport=DESKTOP)
        await sign_in(page, srv.url, DEMO, demo_password(srv))
        await page.click("#nav >> text=Ask")
        # the server closes the idle socket (4408); the page comes back on its own
        await page.wait_for_selector("#conn[data-state=down]")
        await page.wait_for_selector("#conn[data-state=open]")
        assert await page.is_enabled("#ask-submit")
        await page.click("#ask-submit")
        await page.wait_for_selector(".report .headline", timeout=60_000)


async def test_markdown_is_rendered_without_letting_markup_through(browser, demo_server):
    page = await browser.new_page()
    await page.goto(demo_server.url + "/")
    md = (
        "## Plan <img src=x onerror=alert(1)>\n\n| a | b |\n|---|---|\n"
        "| <script>x</script> | **ok** |\n\n- `<b>`"
    )
    out = await page.evaluate("md => import('/static/js/util.js').then(m => m.markdown(md))", md)
    assert "<img" not in out and "<script" not in out and "<b>" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert (
        "<strong>ok</strong>" in out
        and "<table" in out
        and "<li><code>&lt;b&gt;</code></li>" in out
    )
    # the shell's policy refuses inline script even if some markup slipped through
    resp = await page.request.get(demo_server.url + "/dashboard")
    assert "script-src 'self'" in resp.headers["content-security-policy"]


async def test_a_dashboard_link_with_dates_and_a_stack_shows_that_view(browser, demo_server):
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, demo_server.url, DEMO, demo_password(demo_server))
    await loaded(page)
    token = await token_of(page)
    models = (await api_get(demo_server, token, "/api/v1/usage/models"))["models"]
    first = date.fromisoformat(min(m["first_seen"] for m in models)[:10])
    start, last = first + timedelta(days=2), first + timedelta(days=4)  # 3 whole days
    await page.goto(
        f"{demo_server.url}/dashboard?range=custom&from={start}&to={last}&by=project&feature=chat"
    )
    await loaded(page)
    window = {"from": f"{start}T00:00:00Z", "to": f"{last + timedelta(days=1)}T00:00:00Z"}
    summary = await api_get(demo_server, token, "/api/v1/usage/summary", feature="chat", **window)
    assert summary["totals"]["requests"] > 0
    assert await page.inner_text("#kpi-spend") == usd(summary["totals"]["cost_usd"])
    assert await page.inner_text("#kpi-requests") == f"{summary['totals']['requests']:,}"
    assert await page.input_value("input[name=from]") == str(start)
    assert await page.input_value("select[name=feature]") == "chat"
    # three days or fewer are drawn per hour, stacked by the chosen dimension
    assert await page.inner_text("#chart-title") == "Spend over time by project (per hour)"
    labels = await page.evaluate(
        "Chart.getChart(document.querySelector('#spend-chart')).data.labels"
    )
    assert len(labels) == 3 * 24
    # a period that cannot be answered is said so in place
    await page.fill("input[name=to]", str(start - timedelta(days=1)))
    await page.dispatch_event("input[name=to]", "change")
    await page.wait_for_selector("#dash-status:has-text('before')")


async def test_unpriced_models_are_named_on_the_dashboard(browser, demo_server):
    page = await browser.new_page(viewport=DESKTOP)
    await sign_in(page, demo_server.url, DEMO, demo_password(demo_server))
    await loaded(page)
    assert await page.inner_text("#kpi-unpriced") == "0 requests"
    assert await page.inner_text("#kpi-unpriced-models") == "Every model is priced"
    record = {
        "request_id": "unknown-1", "timestamp": "2026-01-05T10:00:00Z", "provider": "acme",
        "model": "brainiac-9000", "input_tokens": 10, "output_tokens": 5,
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        resp = await client.post(
            "/api/v1/usage",
            json=[record],
            headers={"Authorization": f"Bearer {await token_of(page)}"},
        )
    assert resp.json()["unpriced"] == 1
    await page.reload()
    await loaded(page)
    assert await page.inner_text("#kpi-unpriced") == "1 request"
    assert await page.inner_text("#kpi-unpriced-models") == "No price known for: acme/brainiac-9000"
