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
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["environment"], str) and body["environment"]
    assert body["uptime_s"] >= 0
    assert set(body["checks"]) == {"database", "cache", "analytics"}
    backends = {
        "database": {"postgresql", "sqlite"},
        "cache": {"redis", "memory"},
        "analytics": {"clickhouse", "chdb"},
    }
    for name, check in body["checks"].items():
        assert check["status"] in ("healthy", "degraded", "unhealthy"), name
        assert check["backend"] in backends[name], (name, check["backend"])
        assert check["latency_ms"] >= 0, name
        # An unhealthy check names its cause in DESIGN §4's words.
        if check["status"] == "unhealthy":
            assert check["error"]["kind"] in ("dns", "refused", "timeout", "auth", "tls", "other")
    # SQL and analytics are required: either unhealthy would have made this a 503.
    assert body["checks"]["database"]["status"] != "unhealthy"
    assert body["checks"]["analytics"]["status"] != "unhealthy"


def test_health_is_an_alias_of_ready(http: httpx.Client) -> None:
    alias = http.get("/health")
    assert alias.status_code == 200
    assert set(alias.json()["checks"]) == {"database", "cache", "analytics"}
