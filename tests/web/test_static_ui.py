import httpx
import pytest

PAGES = [
    "/",
    "/dashboard",
    "/ask",
    "/import",
    "/api-keys",
    "/budgets",
    "/alerts",
    "/channels",
    "/sign-in",
]
MODULES = [
    "/static/app.js", "/static/js/api.js", "/static/js/socket.js", "/static/js/util.js",
    "/static/js/pages/dashboard.js", "/static/js/pages/ask.js", "/static/js/pages/import.js",
    "/static/js/pages/keys.js", "/static/vendor/chart.umd.min.js",
]  # fmt: skip


async def test_every_page_path_serves_the_shell_with_a_strict_policy(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/static/app.js">' in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/dashboards")).status_code == 404


async def test_modules_and_the_vendored_chart_library_are_served(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        for path in MODULES:
            resp = await client.get(path)
            assert resp.status_code == 200, path
            assert resp.headers["content-type"].startswith("text/javascript")
        socket = (await client.get("/static/js/socket.js")).text
        chart = (await client.get("/static/vendor/chart.umd.min.js")).text
        css = await client.get("/static/app.css")
    # The token travels as a subprotocol entry, never in the WebSocket URL.
    assert '"tokenomist.v1", `bearer.${token}`' in socket
    assert "?token=" not in socket
    assert chart.startswith("/*!\n * Chart.js v4.6.1")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/static/secrets.txt",
        "/static/vendor/README.md",  # not a served kind
        "/static/index.html",
        "/static/../endpoints.py",
        "/static/%2e%2e/endpoints.py",
        "/static/js/../../endpoints.py",
    ],
)
async def test_nothing_outside_the_served_assets(embedded_server, path):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        resp = await client.get(path)
    assert resp.status_code == 404, path
    assert "import" not in resp.text.split("\n", 1)[0]  # never a Python source
