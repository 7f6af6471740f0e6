"""`tokenomist verify` against the real app started in faulted configurations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.servers import free_port
from tests.support.verify import SECRET_B, finding_about, options
from tokenomist.verify import gate, report
from tokenomist.verify.service import verify

pytestmark = pytest.mark.slow
STAGING = Path(__file__).resolve().parents[1] / "staging"

GOLDEN = {
    "health.ready",
    "auth.login",
    "auth.validate",
    "ws.handshake_accepts_valid_token",
    "golden_path",
    "golden_path.concurrent",
    "isolation",
    "resume",
}


def _status(doc: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


async def test_healthy_server_is_go_and_writes_four_outputs(servers, tmp_path: Path) -> None:
    srv = servers()
    doc = await verify(options(srv.url, tmp_path, suites=[str(STAGING)]))
    assert doc["findings"] == [], json.dumps(doc["findings"], indent=1)
    assert (doc["decision"], doc["exit_code"]) == ("go", 0)
    status = _status(doc)
    assert all(status[n] == "passed" for n in GOLDEN), status
    timing = next(c for c in doc["checks"] if c["name"] == "golden_path.timing")["data"]
    assert timing["samples"] >= 3 and timing["p95_time_to_completion_ms"] > 0
    assert doc["suites"][0]["failed"] == 0 and doc["suites"][0]["passed"] >= 9
    assert set(doc["dependencies"]) == {"database", "cache", "analytics"}
    paths = report.write_all(doc, tmp_path / "out")
    assert all(p.exists() for p in paths.values())
    assert ": GO" in paths["worklog"].read_text()


async def test_unresolvable_redis_host_is_one_dns_finding_quoting_the_health_body(
    servers, tmp_path: Path
) -> None:
    srv = servers({"TOKENOMIST_REDIS_URL": "redis://nonexistent.invalid:6379/0"})
    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    [finding] = finding_about(doc, "cache")
    assert finding["class"] == "infrastructure"
    assert finding["signature"] in ("dns_eai_noname", "dns_eai_again")
    assert finding["affected"] == ["dependency.cache"]
    first = finding["whys"][0]["evidence"]
    assert first.startswith('GET /health/ready → 200: checks.cache.error = {"kind": "dns"')
    assert "DNS lookup failed (EAI_" in first
    assert not any("refused" in w["evidence"].lower() for w in finding["whys"])
    # The verifier confirmed the cause itself and found the host in the server's log line.
    assert finding["whys"][2]["evidence"].startswith(
        "probe resolve_host(nonexistent.invalid) from the verifier: failed: DNS lookup failed"
    )
    assert "nonexistent.invalid" in finding["whys"][4]["evidence"]
    assert doc["dependencies"]["cache"]["error"]["kind"] == "dns"
    assert doc["decision"] == "no_go"
    assert "check dependency.cache failed (infrastructure)" in doc["decision_reasons"]


async def test_redis_on_a_closed_port_is_refused_not_dns(servers, tmp_path: Path) -> None:
    port = free_port()
    srv = servers({"TOKENOMIST_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    [finding] = finding_about(doc, "cache")
    assert (finding["class"], finding["signature"]) == ("infrastructure", "connection_refused")
    assert '"kind": "refused"' in finding["whys"][0]["evidence"]
    assert finding["whys"][2]["evidence"] == (
        f"probe tcp_connect(127.0.0.1:{port}) from the verifier: failed: connection refused: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    )


def _proxied_pg(pg_url: str, proxy_port: int) -> str:
    return (
        make_url(pg_url)
        .set(host="127.0.0.1", port=proxy_port)
        .render_as_string(hide_password=False)
    )


async def test_postgres_behind_a_slow_proxy_is_one_degraded_finding_with_its_figure(
    servers, tcp_proxy, pg_url: str, tmp_path: Path
) -> None:
    url = make_url(pg_url)
    proxy = tcp_proxy(url.host or "127.0.0.1", url.port or 5432)
    srv = servers(
        {
            "TOKENOMIST_DATABASE_URL": _proxied_pg(pg_url, proxy.port),
            "TOKENOMIST_HEALTH_LATENCY_THRESHOLD_MS": "100",
            "TOKENOMIST_STARTUP_TIMEOUT_S": "60",
        }
    )
    proxy.set(delay_s=0.1)  # each direction: one round trip now takes ≥ 200 ms
    # A golden path makes many more than five queries: at 200 ms each it cannot finish in 1 s.
    limits = gate.Thresholds(
        retries=0, dependency_latency_ms={"database": 100}, time_to_completion_ms=1000
    )
    doc = await verify(options(srv.url, tmp_path, thresholds=limits))
    status = _status(doc)
    # Slow is not down: /health/ready answered 200, and the database is degraded with its figure.
    assert status["health.ready"] == "passed"
    dep = doc["dependencies"]["database"]
    assert dep["status"] == "degraded" and 200 <= dep["latency_ms"] < 2000, dep
    assert "error" not in dep
    assert status["golden_path"] == "passed" and status["golden_path.timing"] == "failed"
    # One finding: the golden path's slowness joined the database's, none against "target".
    [finding] = doc["findings"]
    assert (finding["subject"], finding["class"], finding["signature"]) == (
        "database",
        "dependency_degraded",
        "dependency_latency",
    )
    assert finding["affected"] == ["dependency.database", "golden_path.timing"]
    first = finding["whys"][0]
    assert f"latency {dep['latency_ms']:.0f} ms (threshold 100 ms)" in first["why"]
    assert "while it was slow, 1 more check(s) failed" in first["why"]
    assert first["evidence"].startswith("GET /health/ready → 200: checks.database = ")
    assert '"status": "degraded"' in first["evidence"]
    assert finding["whys"][2]["evidence"].startswith("probe health_recheck(")
    assert doc["decision"] == "no_go"
    reason = "critical check dependency.database failed (dependency_degraded)"
    assert reason in doc["decision_reasons"]


async def test_postgres_dropping_connections_is_one_failed_database_finding(
    servers, tcp_proxy, pg_url: str, tmp_path: Path
) -> None:
    url = make_url(pg_url)
    proxy = tcp_proxy(url.host or "127.0.0.1", url.port or 5432)
    srv = servers({"TOKENOMIST_DATABASE_URL": _proxied_pg(pg_url, proxy.port)})
    proxy.set(drop=True)
    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    assert doc["dependencies"]["database"]["status"] == "unhealthy"
    [finding] = finding_about(doc, "database")
    assert finding["class"] == "infrastructure"
    assert finding["affected"][:2] == ["health.ready", "dependency.database"]
    # Whatever else failed at the front door while PostgreSQL was cut joined this finding.
    assert [f for f in doc["findings"] if f["subject"] == "target"] == []
    assert "checks.database.error" in finding["whys"][0]["evidence"]
    assert doc["decision"] == "no_go"
    assert _status(doc)["health.ready"] == "failed"


async def test_unwritable_data_dir_stops_start_up_and_verify_quotes_the_line(
    servers, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir's parent should be")
    srv = servers({"TOKENOMIST_DATA_DIR": str(blocker / "data")}, ready=False)
    assert srv.wait_exit(60) != 0
    line = next(ln for ln in srv.output().splitlines() if "startup failed" in ln)
    assert "data dir" in line and "Not a directory" in line
    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    assert (doc["decision"], doc["exit_code"]) == ("inconclusive", 3)
    assert doc["decision_reasons"][0] == "target unreachable at start: no probe could run"
    [finding] = doc["findings"]
    assert (finding["class"], finding["signature"]) == (
        "configuration",
        "startup_unusable_data_dir",
    )
    assert finding["affected"] == ["health.ready"]
    assert any("startup failed: data dir" in w["evidence"] for w in finding["whys"])


async def test_token_from_another_jwt_secret_is_a_configuration_finding(
    servers, pg_url: str, tmp_path: Path
) -> None:
    shared = {"TOKENOMIST_DATABASE_URL": pg_url}
    issuer = servers(shared)
    email, password = "verify-jwt-" + tmp_path.name[-8:] + "@example.com", "Sup3r-secret-pass!"
    resp = httpx.post(issuer.url + "/auth/register", json={"email": email, "password": password})
    assert resp.status_code == 201, resp.text
    token = resp.json()["access_token"]
    other = servers({**shared, "TOKENOMIST_JWT_SECRET": SECRET_B})
    doc = await verify(options(other.url, tmp_path, token=token, user=(email, password)))
    status = _status(doc)
    assert status["auth.validate"] == "passed"
    assert status["auth.provided_token"] == "failed"
    [finding] = [f for f in doc["findings"] if "auth.provided_token" in f["affected"]]
    assert (finding["class"], finding["signature"]) == ("configuration", "jwt_secret_mismatch")
    assert '"reason":"bad_signature"' in finding["whys"][0]["evidence"]


async def test_staging_module_failing_at_collection_is_a_test_defect(
    servers, tmp_path: Path
) -> None:
    suite = tmp_path / "staging_copy"
    suite.mkdir()
    (suite / "test_broken_staging.py").write_text("from tests.staging import nothing_here\n")
    (suite / "test_alive.py").write_text(
        "import os, httpx\n\n"
        "def test_live():\n"
        "    r = httpx.get(os.environ['TOKENOMIST_VERIFY_TARGET'] + '/health/live')\n"
        "    assert r.status_code == 200\n"
    )
    srv = servers()
    doc = await verify(options(srv.url, tmp_path, suites=[str(suite)]))
    [finding] = [f for f in doc["findings"] if f["class"] == "test_defect"]
    assert finding["signature"] == "pytest_import_error"
    [affected] = finding["affected"]
    assert affected.startswith("collect:") and affected.endswith("test_broken_staging")
    assert doc["suites"][0]["passed"] == 1 and len(doc["suites"][0]["collection_errors"]) == 1
    assert not any("collect:" in r for r in doc["decision_reasons"])


async def test_baseline_reports_a_fault_as_new_and_its_removal_as_fixed(
    servers, tmp_path: Path
) -> None:
    port = free_port()
    good = servers(port=port)
    before = await verify(options(good.url, tmp_path))
    good.stop()
    faulted = servers({"TOKENOMIST_REDIS_URL": "redis://nonexistent.invalid:6379/0"}, port=port)
    during = await verify(options(faulted.url, tmp_path, baseline=before))
    assert "dependency.cache" in during["baseline"]["new"]
    [finding] = finding_about(during, "cache")
    assert finding["whys"][3]["evidence"] == (
        f"baseline run {before['started_at']}: dependency.cache passed"
    )
    faulted.stop()
    fixed = servers(port=port)
    after = await verify(options(fixed.url, tmp_path, baseline=during))
    assert "dependency.cache" in after["baseline"]["fixed"]
    assert finding_about(after, "cache") == []


async def test_signup_disabled_without_users_is_configuration_and_one_user_is_inconclusive(
    servers, pg_url: str, tmp_path: Path
) -> None:
    env = {"TOKENOMIST_DATABASE_URL": pg_url, "TOKENOMIST_SIGNUP_ENABLED": "false"}
    srv = servers(env)
    doc = await verify(options(srv.url, tmp_path))
    [finding] = [f for f in doc["findings"] if "auth.login" in f["affected"]]
    assert (finding["class"], finding["signature"]) == ("configuration", "verifier_signup_disabled")
    assert doc["decision"] == "no_go"

    email, password = f"ops-{tmp_path.name[-8:]}@example.com", "Operator-pass-123"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokenomist",
            "users",
            "create",
            "--email",
            email,
            "--password",
            password,
        ],
        env={**os.environ, **env, "TOKENOMIST_ENVIRONMENT": "test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    doc = await verify(options(srv.url, tmp_path, user=(email, password)))
    status = _status(doc)
    assert status["golden_path"] == "passed" and status["isolation"] == "skipped"
    assert doc["decision"] == "inconclusive"
    assert any(
        r.startswith("critical check isolation skipped: needs a second user")
        for r in doc["decision_reasons"]
    )
