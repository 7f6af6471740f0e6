import httpx


def test_live_answers_alive(http: httpx.Client) -> None:
    resp = http.get("/health/live")
    assert resp.status_code == 200
    assert resp.json() == {"status": "alive"}


def test_ready_reports_every_dependency_with_backend_and_latency(http: httpx.Client) -> None:
    resp = http.get("/health/ready")
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["status"] in ("healthy", "degraded")
    assert set(body["checks"]) == {"database", "cache", "analytics"}
    for name, check in body["checks"].items():
        assert check["status"] in ("healthy", "degraded", "unhealthy"), name
        assert isinstance(check["backend"], str) and check["backend"], name
        assert check["latency_ms"] >= 0, name
