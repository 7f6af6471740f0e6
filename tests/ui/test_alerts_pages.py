"""Budgets, alerts and channels in Chromium: a user adds a webhook they own, sets a monthly
budget on a project, usage crosses 80 %, and the webhook receives a signed event — while the
open page shows the alert live (toast, badge, redrawn bar) and the Alerts page shows it
delivered with its attempt log. At 1440 px and at 390 px (no clipped table)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.alerts import ingest, records, running_receiver, signed_by
from tests.support.servers import free_port, live_server
from tests.support.ui import DESKTOP, PASSWORD, PHONE, screenshot, sign_in
from tests.ui.test_pages import CLIPPED

pytestmark = pytest.mark.slow


@pytest.fixture
async def receiver():
    async with running_receiver() as rec:
        yield rec


@pytest.fixture
async def alerts_server(make_settings):
    port = free_port()
    settings = make_settings(
        allowed_origins=[f"http://127.0.0.1:{port}"],
        alerts_allow_private_urls=True,  # the user's receiver listens on loopback here
        alerts_retry_base_s=0.05,
        alerts_eval_interval_s=3600,  # ingests drive the engine
    )
    async with live_server(settings, port=port) as srv:
        yield srv


async def _register(srv) -> tuple[str, dict[str, str]]:
    email = f"budget-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
        resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    return email, {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440", "390"])
async def test_a_monthly_project_budget_set_in_the_ui_alerts_a_webhook_at_80_percent(
    browser, alerts_server, receiver, tmp_path, viewport
):
    srv = alerts_server
    suffix = "" if viewport is DESKTOP else "-390"
    email, headers = await _register(srv)
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as api:
        unit = await ingest(api, headers, records(1, project="calibration"))
        await ingest(api, headers, records(2, project="app"))  # 20 % before the budget

        page = await browser.new_page(viewport=viewport)
        await sign_in(page, srv.url, email, PASSWORD)

        # A webhook channel: its secret is shown once.
        await page.click("#nav >> text=Channels")
        await page.wait_for_selector("main[data-loaded]", state="attached")
        await page.fill("#channel-form input[name=name]", "my receiver")
        await page.fill("#channel-form input[name=url]", receiver.url)
        await page.click("#channel-create")
        await page.wait_for_selector("#channel-secret:not([hidden])")
        secret = await page.input_value("#channel-secret-value")
        assert secret.startswith("whsec_")
        await page.wait_for_selector("table.channels tbody tr")
        await page.click("button[data-test]")
        await page.wait_for_selector("#channel-test-result.ok")
        assert "Delivered to my receiver (HTTP 200)" in await page.inner_text(
            "#channel-test-result"
        )
        (test_event,) = await receiver.wait_for(1)
        assert test_event.json["type"] == "channel.test" and signed_by(secret, test_event)
        assert await page.evaluate(CLIPPED) == []
        await screenshot(page, tmp_path, f"channels{suffix}.png", full_page=True)
        await page.reload()  # shown once: a reload does not show it again
        await page.wait_for_selector("table.channels tbody tr")
        assert await page.is_hidden("#channel-secret")

        # A monthly budget on the project "app", alerting the channel at 80 % and 100 %.
        await page.click("#nav >> text=Budgets")
        await page.wait_for_selector("#budget-channels input[name=channel]")
        await page.fill("#budget-form input[name=name]", "app monthly")
        await page.fill("#budget-form input[name=scope-project]", "app")
        await page.select_option("#budget-form select[name=period]", "month")
        await page.fill("#budget-form input[name=amount]", f"{10 * unit:.2f}")
        await page.fill("#budget-form input[name=thresholds]", "80, 100")
        await page.check("#budget-channels input[name=channel]")
        await page.click("#budget-save")
        card = page.locator("article.budget", has_text="app monthly")
        await card.wait_for()
        amount = round(10 * unit, 2)
        budget_id = await card.get_attribute("data-budget")
        saved = (await api.get(f"/api/v1/budgets/{budget_id}", headers=headers)).json()
        assert saved["scope"] == {"project": "app"} and saved["period"] == "month"
        assert saved["thresholds"] == [0.8, 1.0] and saved["amount_usd"] == amount
        assert saved["spent_usd"] == pytest.approx(2 * unit)
        # All of it spent today, so the forecast extrapolates today: the card says what the
        # API says, whichever that is.
        assert await card.get_attribute("data-status") == saved["status"]
        assert "20 %" in await card.locator(".spent").inner_text()

        # Usage crosses 80 % (to 90 %): the page is told live, the webhook gets a signed event.
        await ingest(api, headers, records(7, project="app"))
        toast = page.locator(".toast", has_text="app monthly")
        await toast.wait_for(timeout=60_000)
        assert "passed 80 %" in await toast.inner_text()
        assert await page.inner_text("#alert-badge") == "1"
        await page.wait_for_selector("article.budget .spent >> text=90 %")  # redrawn live
        got = await receiver.wait_for(2)
        event = got[1].json
        assert (event["type"], event["data"]["threshold"]) == ("budget.threshold", 0.8)
        assert event["data"]["budget_id"] == budget_id
        assert event["data"]["spent_usd"] == pytest.approx(9 * unit)
        assert signed_by(secret, got[1])
        assert got[1].headers["x-tokenomist-event-id"] == event["id"]
        assert await page.evaluate(CLIPPED) == []
        if viewport is PHONE:  # a fixed toast lands mid-page on a full-page picture
            await toast.locator("button", has_text="Dismiss").click()
            await toast.wait_for(state="detached")
        await screenshot(page, tmp_path, f"budgets{suffix}.png", full_page=True)

        # The Alerts page: the event, delivered, with one attempt answered 200.
        await page.click("#nav-alerts")
        row = page.locator(f"tr[data-alert='{event['id']}']")
        await row.wait_for()
        assert await page.is_hidden("#alert-badge")
        for close in await page.locator(".toast button").all():  # the picture shows the page
            await close.click()
        delivery = row.locator(".delivery")
        assert await delivery.get_attribute("data-status") == "delivered"
        assert "to my receiver" in await delivery.inner_text()
        await delivery.locator("summary").click()
        assert "HTTP 200" in await delivery.locator(".attempts li").inner_text()
        assert await page.evaluate(CLIPPED) == []
        await screenshot(page, tmp_path, f"alerts{suffix}.png", full_page=True)

        # Edit the budget in the form: raise the amount; the bar falls back under 80 %.
        await page.click("#nav >> text=Budgets")
        await page.click(f"button[data-edit='{budget_id}']")
        assert await page.input_value("#budget-form input[name=thresholds]") == "80, 100"
        await page.fill("#budget-form input[name=amount]", f"{20 * unit:.2f}")
        await page.click("#budget-save")
        await page.wait_for_selector(
            f"article.budget[data-budget='{budget_id}'] .spent >> text=45 %"
        )
        assert len(receiver.requests) == 2  # nothing new fired

        page.on("dialog", lambda dialog: dialog.accept())
        await page.click(f"button[data-delete='{budget_id}']")
        await page.wait_for_selector("article.budget", state="detached")
        await page.close()
