"""Browser-test helpers: Debian's Chromium for Playwright, a proxy the test can cut (to drop
the page's WebSocket mid-run), an LLM the test can hold (to keep a run in flight while it does),
and page and API helpers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.analyst.llm_server import FakeLLM
from tests.support.tcpproxy import TcpProxy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "correct horse battery"
# A fixed end keeps the demo workload (and every figure checked) the same on every run.
DEMO_END = datetime(2026, 11, 20, tzinfo=UTC)
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


class CuttableProxy(TcpProxy):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader, writer) -> None:
        self._clients.add(writer)
        try:
            await super()._handle(reader, writer)
        finally:
            self._clients.discard(writer)

    def cut(self) -> int:
        """Reset every client connection open now (the page's WebSocket among them), as a
        network blip would; new connections are served as before."""
        clients = list(self._clients)
        for writer in clients:
            writer.transport.abort()
        return len(clients)


class GatedLLM(FakeLLM):
    """Holds each narrative request (the reporting agent's; or, with ``hold = "intent"``, the
    triage agent's intent request) until ``release`` is set, so a run is reliably in flight
    while the test acts."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = "narrative"
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def chat(self, request):
        body = await request.json()
        kind = (
            "intent"
            if body.get("response_format", {}).get("type") == "json_object"
            else "narrative"
        )
        if kind == self.hold:
            self.reached.set()
            await self.release.wait()
        return await super().chat(request)


def demo_password(srv) -> str:
    return (Path(srv.settings.data_dir) / "demo_password").read_text().strip()


def demo_file(tmp_path: Path, days: int = 14) -> tuple[Path, int]:
    from tokenomist.usage.demo import generate

    records = generate(seed=7, days=days, end=DEMO_END).records
    path = tmp_path / "demo-usage.ndjson"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path, len(records)


def usd(value: float) -> str:
    return f"${value:,.2f}"


async def token_of(page) -> str:
    return await page.evaluate(
        "JSON.parse(sessionStorage.getItem('tokenomist.session')).access_token"
    )


async def api_get(srv, token: str, path: str, **params):
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
        resp = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def sign_in(page, url: str, email: str, password: str) -> None:
    await page.goto(url + "/")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("#login-submit")
    await page.wait_for_selector("#nav", state="visible")


async def loaded(page, previous: str | None = None) -> str:
    """Wait until the dashboard has drawn (again, when ``previous`` is its last stamp). A
    selector, not a JS predicate: the page's CSP forbids the eval a predicate would need."""
    selector = "main[data-loaded]" + (f":not([data-loaded='{previous}'])" if previous else "")
    await page.wait_for_selector(selector, state="attached")
    return await page.get_attribute("main", "data-loaded")


async def screenshot(page, tmp_path: Path, name: str, full_page: bool = False) -> None:
    """Into the test's tmp dir, and into $TOKENOMIST_UI_SCREENSHOTS (docs/screenshots when
    refreshing the README's pictures) when that is set."""
    await page.screenshot(path=str(tmp_path / name), full_page=full_page)
    target = os.environ.get("TOKENOMIST_UI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)
