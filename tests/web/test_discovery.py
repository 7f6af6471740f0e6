import httpx
import websockets


async def test_discovery_names_every_endpoint_and_they_answer(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        r = await client.get("/api/v1/discovery")
        body = r.json()
        assert r.status_code == 200
        assert body["service"] == "tokenomist" and body["version"] and body["environment"] == "test"
        assert body["protocol_version"] == "1" and body["subprotocol"] == "tokenomist.v1"
        ep = body["endpoints"]
        assert ep["http"] == embedded_server.url
        assert ep["ws"] == embedded_server.ws_url
        assert ep["otlp"] == f"{embedded_server.url}/v1/traces"
        assert ep["mcp"] == f"{embedded_server.url}/mcp"
        assert ep["agui"] == f"{embedded_server.url}/api/v1/agui"
        assert "realtime.websocket" in body["capabilities"]
        # The advertised endpoints exist: OTLP refuses an anonymous export, the WebSocket
        # refuses a handshake without a token (both 401, not 404).
        assert (await client.post(ep["otlp"], content=b"{}")).status_code == 401
        assert (await client.post(ep["mcp"], json={})).status_code == 401
        assert (await client.post(ep["agui"], json={})).status_code == 401
    try:
        async with websockets.connect(ep["ws"], subprotocols=["tokenomist.v1"]):
            raise AssertionError("handshake without a token was accepted")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 401
