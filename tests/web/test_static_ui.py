import httpx


async def test_index_and_assets_are_served(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        page = await client.get("/")
        js = await client.get("/static/app.js")
        css = await client.get("/static/app.css")
        missing = await client.get("/static/secrets.txt")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js">' in page.text
    # The token travels as a subprotocol entry, never in the WebSocket URL.
    assert '"tokenomist.v1", `bearer.${token}`' in js.text
    assert "?token=" not in js.text
    assert css.status_code == 200
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
