"""The whole product in a real headless Chromium, as a new user meets it: sign up, import the
demo file, read the dashboard (its figures equal the API's), filter it, ask and watch the five
agents live, lose the socket mid-run and still get every step exactly once, manage an API key,
sign out."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.ui import (
    DESKTOP,
    PASSWORD,
    api_get,
    demo_file,
    loaded,
    screenshot,
    token_of,
    usd,
)

pytestmark = pytest.mark.slow
AGENTS = ("triage", "data", "optimization", "actions", "reporting")


async def _chart_total(page) -> float:
    return await page.evaluate(
        "Chart.getChart(document.querySelector('#spend-chart')).data.datasets"
        ".reduce((a, d) => a + d.data.reduce((b, v) => b + v, 0), 0)"
    )


def _series_total(series: dict) -> float:
    lines = [s["points"] for s in series["series"]] + [series["other"]["points"]]
    return sum(p["cost_usd"] for line in lines for p in line)


async def _check_dashboard(page, srv, token, **filters):
    summary = await api_get(srv, token, "/api/v1/usage/summary", **filters)
    t = summary["totals"]
    assert await page.inner_text("#kpi-spend") == usd(t["cost_usd"])
    assert await page.inner_text("#kpi-requests") == f"{t['requests']:,}"
    detail = await page.inner_text("#kpi-tokens-detail")
    assert f"{t['input_tokens']:,} in" in detail and f"{t['output_tokens']:,} out" in detail
    series = await api_get(
        srv, token, "/api/v1/usage/series", interval="day", group_by="model", top=8, **filters
    )
    assert await _chart_total(page) == pytest.approx(_series_total(series))
    assert _series_total(series) == pytest.approx(t["cost_usd"])
    return summary


async def test_new_user_imports_reads_filters_asks_and_signs_out(browser, proxied_server, tmp_path):
    srv = proxied_server
    context = await browser.new_context(viewport=DESKTOP)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=srv.page_url)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # sign up
    await page.goto(srv.page_url + "/")
    await page.click("#switch-mode")
    await page.fill("input[name=email]", "new-user@example.com")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard")
    await loaded(page)
    assert "No usage in this period" in await page.inner_text("#dash-status")
    token = await token_of(page)

    # import the demo file through the Import page
    path, n = demo_file(tmp_path)
    await page.click("#nav >> text=Import")
    await page.wait_for_selector("#import-format option[value=canonical]", state="attached")
    await page.set_input_files("#import-file", str(path))
    await page.click("#import-submit")
    await page.wait_for_selector("#count-accepted")
    assert await page.inner_text("#count-accepted") == f"{n:,}"
    assert await page.inner_text("#count-rejected") == "0"
    await screenshot(page, tmp_path, "import.png")

    # the dashboard's figures are the API's
    await page.click("#nav >> text=Dashboard")
    stamp = await loaded(page)
    everything = await _check_dashboard(page, srv, token)
    assert everything["totals"]["requests"] == n
    await screenshot(page, tmp_path, "dashboard.png", full_page=True)

    # filter by a project: URL, totals and chart follow
    projects = await api_get(srv, token, "/api/v1/usage/summary", group_by="project")
    project = projects["groups"][1]["key"]
    await page.select_option("select[name=project]", project)
    stamp = await loaded(page, stamp)
    assert f"project={project}" in page.url
    filtered = await _check_dashboard(page, srv, token, project=project)
    assert filtered["totals"]["requests"] < everything["totals"]["requests"]
    tops = await page.locator("#top-project tbody tr").all_inner_texts()
    assert len(tops) == 1 and tops[0].startswith(project)
    # the URL alone reproduces the view
    await page.reload()
    await loaded(page)
    assert await page.inner_text("#kpi-spend") == usd(filtered["totals"]["cost_usd"])
    assert await page.input_value("select[name=project]") == project

    # ask: the five agents appear live (the narrative is held, so the run is still going)
    await page.click("#nav >> text=Ask")
    await page.wait_for_selector("#conn[data-state=open]")
    await page.fill("#q", "How can we cut our AI spend?")
    await page.click("#ask-submit")
    for agent in AGENTS:
        await page.wait_for_selector(f".step[data-agent={agent}]")
    assert await page.locator(".report").count() == 0
    assert await page.is_visible("#cancel")
    await srv.gated.reached.wait()  # the reporting agent is waiting for its narrative

    # drop the socket mid-run; the page reconnects and resumes from its last seq
    assert srv.proxy.cut() >= 1
    await page.wait_for_selector("#conn[data-state=down]")
    srv.gated.release.set()
    await page.wait_for_selector(".timeline .end")
    await page.wait_for_selector("#conn[data-state=open]")
    assert "Reconnected" in await page.inner_text("#conn")
    seqs = [
        int(s)
        for s in await page.eval_on_selector_all("[data-seq]", "els => els.map(e => e.dataset.seq)")
    ]
    assert sorted(seqs) == list(range(1, max(seqs) + 1)), "a step is missing or shown twice"
    assert await page.locator(".step").count() == len(AGENTS)
    assert await page.locator(".timeline .fail").count() == 0

    # the report opens at its headline and its savings are the API's
    run_id = await page.get_attribute(".run", "data-run")
    run = await api_get(srv, token, f"/api/v1/runs/{run_id}")
    report = run["report"]
    headline = page.locator(".report .headline")
    monthly, share = usd(report["monthly_savings_usd"]), f"{report['savings_pct']:.1f} %"
    assert await headline.inner_text() == f"Save {monthly} a month ({share} of spend)"
    box = await headline.bounding_box()
    assert 0 <= box["y"] < DESKTOP["height"] / 2  # in view, near the top
    rows = page.locator(".report table.strategies tbody tr")
    assert await rows.count() == len(report["strategies"]) == 7
    for i, strategy in enumerate(report["strategies"]):
        assert await rows.nth(i).get_attribute("data-strategy") == strategy["id"]
        assert await rows.nth(i).locator(".monthly").inner_text() == usd(
            strategy["monthly_savings_usd"]
        )
    chart = await page.evaluate(
        "Chart.getChart(document.querySelector('.savings-chart')).data.datasets[0].data"
    )
    assert chart == [s["monthly_savings_usd"] for s in report["strategies"]]
    assert await page.locator(".report ol.actions > li").count() == len(report["actions"])
    assert await page.locator(".report ul.assumptions > li").count() == len(report["assumptions"])
    assert await page.is_enabled("#ask-submit")
    await screenshot(page, tmp_path, "ask.png")
    # the thread is in the sidebar and a reload brings the conversation back
    assert await page.locator("#thread-list a[aria-current]").count() == 1
    await page.reload()
    await page.wait_for_selector(".report .headline")
    assert await page.locator(".msg.user").count() == 1
    await page.click("#new-thread")
    assert await page.locator(".report").count() == 0 and "thread=" not in page.url
    await page.click("#thread-list a")
    await page.wait_for_selector(".report .headline")
    assert f"thread={run['thread_id']}" in page.url

    # API keys: create (secret once, copy), list, revoke
    await page.click("#nav >> text=API keys")
    await page.fill("input[name=name]", "ci ingest")
    await page.check("input[value=read]")
    await page.click("#key-create")
    await page.wait_for_selector("#key-secret:not([hidden])")
    secret = await page.input_value("#secret-value")
    assert re.fullmatch(r"tk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    await page.click("#copy-secret")
    await page.wait_for_selector("#copy-status:not(:empty)")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("#key-list tbody tr", has_text="ci ingest")
    assert secret[:15] in await row.inner_text() and "ingest, read" in await row.inner_text()
    await screenshot(page, tmp_path, "api-keys.png")
    async with httpx.AsyncClient(base_url=srv.url) as client:
        assert (
            await client.get("/api/v1/usage/models", headers={"X-API-Key": secret})
        ).status_code == 200
        page.once("dialog", lambda d: d.accept())
        await row.locator("button[data-revoke]").click()
        await row.wait_for(state="detached")
        assert (
            await client.get("/api/v1/usage/models", headers={"X-API-Key": secret})
        ).status_code == 401

    # sign out: back to sign-in, and the old token is refused
    await page.click("#sign-out")
    await page.wait_for_selector("#login")
    assert await page.is_hidden("#nav")
    assert await page.evaluate("sessionStorage.getItem('tokenomist.session')") is None
    async with httpx.AsyncClient(base_url=srv.url) as client:
        me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert errors == []
    await context.close()


async def test_cancel_stops_a_run_in_flight(browser, proxied_server, tmp_path):
    srv = proxied_server
    srv.gated.hold = "intent"  # the run waits inside triage
    page = await browser.new_page(viewport=DESKTOP)
    await page.goto(srv.page_url + "/")
    await page.click("#switch-mode")
    await page.fill("input[name=email]", "canceller@example.com")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard")
    path, _ = demo_file(tmp_path, days=2)  # with no usage at all triage answers without the LLM
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
        resp = await client.post(
            "/api/v1/usage/import", content=path.read_bytes(),
            headers={"Authorization": f"Bearer {await token_of(page)}"},
        )  # fmt: skip
        assert resp.json()["accepted"] > 0
    await page.click("#nav >> text=Ask")
    await page.wait_for_selector("#conn[data-state=open]")
    await page.click("#ask-submit")
    await page.wait_for_selector(".step[data-agent=triage]")
    await srv.gated.reached.wait()
    await page.click("#cancel")
    srv.gated.release.set()
    end = page.locator(".timeline .end")
    await end.wait_for()
    assert "cancel" in (await end.inner_text()).lower()
    run = await api_get(
        srv, await token_of(page), f"/api/v1/runs/{await page.get_attribute('.run', 'data-run')}"
    )
    assert run["status"] == "cancelled"
    assert await page.locator(".report").count() == 0
    assert await page.is_enabled("#ask-submit") and await page.is_hidden("#cancel")


async def test_a_reload_mid_run_rebuilds_the_timeline_and_follows_the_run(
    browser, proxied_server, tmp_path
):
    srv = proxied_server
    page = await browser.new_page(viewport=DESKTOP)
    await page.goto(srv.page_url + "/")
    await page.click("#switch-mode")
    await page.fill("input[name=email]", "reloader@example.com")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard")
    path, _ = demo_file(tmp_path, days=2)
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
        resp = await client.post(
            "/api/v1/usage/import", content=path.read_bytes(),
            headers={"Authorization": f"Bearer {await token_of(page)}"},
        )  # fmt: skip
        assert resp.json()["accepted"] > 0
    await page.click("#nav >> text=Ask")
    await page.wait_for_selector("#conn[data-state=open]")
    await page.click("#ask-submit")
    await srv.gated.reached.wait()  # held in reporting
    await page.wait_for_url("**/ask?thread=*")
    await page.reload()
    await page.wait_for_selector(".step[data-agent=reporting]")  # replayed from the start
    assert await page.is_visible("#cancel")
    srv.gated.release.set()
    await page.wait_for_selector(".report .headline")
    await page.wait_for_selector(".timeline .end")
    seqs = sorted(
        int(s)
        for s in await page.eval_on_selector_all("[data-seq]", "els => els.map(e => e.dataset.seq)")
    )
    assert seqs == list(range(1, seqs[-1] + 1))
    assert await page.locator(".msg.user").count() == 1  # the question, from the thread history
    assert await page.locator(".report").count() == 1
