"""Grouping, whys, baseline, gate and the four outputs, on checks as the probes record them."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tokenomist.verify import baseline, gate, report
from tokenomist.verify.classify import classify
from tokenomist.verify.schemas import Check
from tokenomist.verify.service import VerifyOptions, build_findings
from tokenomist.verify.whys import ProbeResult, five_whys

DNS_TEXT = "Error -3 connecting to pg.internal:5432. Temporary failure in name resolution."


def unreachable(name: str, kind: str) -> Check:
    return Check(
        name,
        kind,
        "failed",
        3.0,
        f"{name}: DNS",
        signals=[DNS_TEXT],
        evidence=[f"{name}: {DNS_TEXT}"],
        attempts=[False, False],
    )


def passed(name: str, kind: str = "auth") -> Check:
    return Check(name, kind, "passed", 1.0, "ok", attempts=[True])


def test_one_root_cause_is_one_finding_listing_every_affected_check() -> None:
    checks = [unreachable(f"suite:test_{i}", "suite") for i in range(40)]
    checks += [passed("auth.login")]
    groups = classify(checks)
    assert len(groups) == 1
    assert groups[0].signature.id == "dns_eai_again"
    assert len(groups[0].checks) == 40
    assert groups[0].values["host"] == "pg.internal"


def test_different_subjects_stay_separate_findings() -> None:
    dep = Check(
        "dependency.cache",
        "dependency",
        "failed",
        subject="cache",
        signals=["health.kind:dns", "DNS lookup failed (EAI_NONAME): Name or service"],
    )
    ws = Check("golden_path", "golden_path", "failed", signals=["ws.close:1011"])
    groups = classify([dep, ws])
    assert [(g.signature.id, g.subject, g.signature.klass) for g in groups] == [
        ("dns_eai_noname", "cache", "infrastructure"),
        ("ws_close_1011", "target", "product_regression"),
    ]


def test_every_why_cites_evidence_or_names_the_deciding_probe() -> None:
    group = classify([unreachable("auth.login", "auth")])[0]
    whys = five_whys(group, probe=None, log_lines=[], baseline_status=None)
    assert len(whys) == 5
    assert whys[0].evidence == f"auth.login: {DNS_TEXT}"
    assert 'matched "Error -3 connecting to pg.internal:5432' in whys[1].evidence
    for w in whys:
        assert w.evidence and (w.evidence != "unknown" or w.probe), w
    assert whys[2].evidence == "unknown" and "pg.internal" in (whys[2].probe or "")


def test_probe_result_log_line_and_baseline_become_evidence() -> None:
    group = classify([unreachable("auth.login", "auth")])[0]
    probe = ProbeResult("resolve_host", "pg.internal", False, "DNS lookup failed (EAI_AGAIN)")
    log = [
        "12:00 startup failed: PostgreSQL at postgresql://u:***@pg.internal:5432/db unreachable: "
        "DNS lookup failed (EAI_AGAIN): Temporary failure in name resolution",
        "12:00 unrelated line",
    ]
    whys = five_whys(
        group,
        probe=probe,
        log_lines=log,
        baseline_status="new",
        baseline_when="2026-01-01T00:00:00+00:00",
        baseline_prior="passed",
    )
    assert whys[2].evidence.startswith("probe resolve_host(pg.internal) from the verifier: failed")
    assert whys[3].evidence == "baseline run 2026-01-01T00:00:00+00:00: auth.login passed"
    assert whys[4].evidence.startswith("log: 12:00 startup failed: PostgreSQL")


def test_baseline_new_fixed_still_failing_and_flaky() -> None:
    before = {
        "started_at": "T0",
        "checks": [
            {"name": "a", "status": "passed"},
            {"name": "b", "status": "failed"},
            {"name": "c", "status": "failed"},
            {"name": "d", "status": "passed"},
        ],
    }
    now = [
        Check("a", "auth", "failed", attempts=[False, False]),
        Check("b", "auth", "passed", attempts=[True]),
        Check("c", "auth", "failed", attempts=[False, False]),
        Check("d", "auth", "passed", attempts=[False, True]),
        Check("e", "auth", "failed", attempts=[False]),
    ]
    assert baseline.compare(now, before) == {
        "against": "T0",
        "new": ["a", "e"],
        "fixed": ["b"],
        "still_failing": ["c"],
        "flaky": ["d"],
    }


def _findings(checks: list[Check]):
    import asyncio

    return asyncio.run(build_findings(checks, VerifyOptions(target="http://t:1"), [], None))


def test_gate_no_go_on_a_critical_failure() -> None:
    checks = [
        passed("health.ready", "health"),
        Check("golden_path", "golden_path", "failed", signals=["ws.close:1011"]),
    ]
    d = gate.decide(checks, [], gate.Thresholds())
    assert (d.decision, d.exit_code) == ("no_go", 1)
    assert d.reasons == ["critical check golden_path failed (product_regression)"]


def test_gate_test_defect_alone_is_not_a_product_failure() -> None:
    checks = [
        passed("health.ready", "health"),
        Check(
            "collect:test_x",
            "collection",
            "error",
            signals=["pytest:collection_error", "E ModuleNotFoundError: x"],
        ),
    ]
    findings = _findings(checks)
    assert [f.klass for f in findings] == ["test_defect"]
    d = gate.decide(
        checks, findings, gate.Thresholds(), suites=[{"path": "s", "collected": 3, "skipped": 0}]
    )
    assert d.decision == "go"


def test_gate_inconclusive_cases() -> None:
    t = gate.Thresholds()
    d = gate.decide([unreachable("health.ready", "health")], [], t, target_reachable=False)
    assert (d.decision, d.exit_code) == ("inconclusive", 3)
    assert d.reasons[0] == "target unreachable at start: no probe could run"
    d = gate.decide(
        [passed("health.ready", "health")],
        [],
        t,
        suites=[{"path": "tests/staging", "collected": 0, "skipped": 0}],
    )
    assert d.reasons == ["suite tests/staging: zero tests collected"]
    d = gate.decide(
        [
            passed("health.ready", "health"),
            Check(
                "golden_path.timing",
                "golden_path",
                "skipped",
                message="too few samples: 1 completed runs, need 3",
            ),
        ],
        [],
        t,
    )
    assert d.decision == "inconclusive"
    assert "too few samples" in d.reasons[0]


def test_thresholds_from_toml_and_json_and_unknown_keys_named(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text(
        'critical = ["health.ready"]\nmax_noncritical_failures = 2\n'
        "[dependency_latency_ms]\ndatabase = 50\n"
    )
    t = gate.load_thresholds(toml)
    assert t.critical == ["health.ready"] and t.latency_ms("database") == 50
    assert t.latency_ms("cache") == 500
    js = tmp_path / "t.json"
    js.write_text(json.dumps({"min_samples": 9}))
    assert gate.load_thresholds(js).min_samples == 9
    js.write_text(json.dumps({"min_sample": 9}))
    with pytest.raises(gate.ThresholdsError, match="unknown key\\(s\\) min_sample"):
        gate.load_thresholds(js)
    checks = [passed("health.ready", "health"), Check("golden_path", "golden_path", "failed")]
    assert gate.decide(checks, [], t).decision == "go"  # not critical, 1 ≤ 2 tolerated


def test_outputs_render_from_one_document(tmp_path: Path) -> None:
    checks = [passed("health.ready", "health"), unreachable("auth.login", "auth")]
    findings = _findings(checks)
    d = gate.decide(checks, findings, gate.Thresholds())
    doc = {
        "target": "http://t:1",
        "started_at": "2026-01-01T00:00:00+00:00",
        "decision": d.decision,
        "exit_code": d.exit_code,
        "decision_reasons": d.reasons,
        "dependencies": {
            "database": {
                "status": "healthy",
                "backend": "sqlite",
                "latency_ms": 2.0,
                "threshold_ms": 500.0,
            }
        },
        "checks": [c.as_dict() for c in checks],
        "findings": [f.as_dict() for f in findings],
    }
    doc["next_steps"] = report.next_steps(doc)
    paths = report.write_all(doc, tmp_path)
    report.write_all(doc, tmp_path)  # a second run appends a second worklog entry
    assert json.loads(paths["report"].read_text())["findings"][0]["class"] == "infrastructure"
    worklog = paths["worklog"].read_text()
    assert worklog.count("## 2026-01-01T00:00:00+00:00 — verify http://t:1: NO-GO") == 2
    assert "| database | sqlite | healthy | 2.0 | 500.0 |  |" in worklog
    assert "#### F1 — infrastructure" in worklog and "Evidence: auth.login: Error -3" in worklog
    suite = ET.parse(paths["junit"]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "2"
    failure = suite.find("testcase[@name='auth.login']/failure")
    assert failure is not None and failure.get("type") == "infrastructure"
    pr = paths["pr"].read_text()
    assert pr.startswith("## Verify NO-GO: http://t:1") and "### Risk" in pr


def _db_down() -> Check:
    return Check(
        "dependency.database",
        "dependency",
        "failed",
        subject="database",
        signals=[
            "health.status:unhealthy",
            "health.kind:other",
            "ConnectionError: unexpected connection_lost() call",
        ],
        evidence=['GET /health/ready → 503: checks.database.error = {"kind": "other"}'],
    )


def test_front_door_symptoms_join_the_finding_of_the_dependency_that_is_down() -> None:
    reset = Check(
        "auth.login",
        "auth",
        "failed",
        message="POST /auth/register failed",
        signals=["ConnectionResetError: [Errno 104] Connection reset by peer"],
    )
    boom = Check("golden_path", "golden_path", "failed", signals=["http:500"])
    findings = _findings([_db_down(), reset, boom])
    [finding] = findings
    assert (finding.signature, finding.subject) == ("asyncpg_connection_closed", "database")
    assert finding.affected == ["dependency.database", "auth.login", "golden_path"]
    assert "2 more check(s) failed with its symptoms: auth.login, golden_path" in (
        finding.whys[0].why
    )


def test_symptoms_without_a_dependency_down_stay_their_own_findings() -> None:
    reset = Check(
        "auth.login",
        "auth",
        "failed",
        signals=["ConnectionResetError: [Errno 104] Connection reset by peer"],
    )
    assert [f.signature for f in _findings([reset])] == ["connection_reset"]


def test_operator_signatures_are_tried_before_the_shipped_catalogue(tmp_path: Path) -> None:
    extra = tmp_path / "ours.toml"
    extra.write_text(
        '[[signature]]\nid = "mesh_sidecar_not_ready"\ntitle = "Envoy sidecar not ready"\n'
        'class = "infrastructure"\npatterns = ["upstream connect error"]\n'
        'cause = "The sidecar was not ready."\nfix = "Hold the app until the sidecar is up."\n'
        'confirm_probe = "curl localhost:15000/ready"\n'
    )
    check = Check(
        "golden_path",
        "golden_path",
        "failed",
        signals=["http:503", "upstream connect error or disconnect/reset"],
    )
    import asyncio

    opts = VerifyOptions(target="http://t:1", signatures_path=extra)
    [finding] = asyncio.run(build_findings([check], opts, [], None))
    assert (finding.signature, finding.klass) == ("mesh_sidecar_not_ready", "infrastructure")
    [shipped] = _findings([check])
    assert shipped.signature == "fallback_product"


def test_a_probe_that_did_not_reproduce_the_failure_is_not_cited_as_confirming_it() -> None:
    group = classify([unreachable("auth.login", "auth")])[0]
    probe = ProbeResult("resolve_host", "pg.internal", True, "resolves to 10.0.0.7")
    whys = five_whys(group, probe=probe, log_lines=[], baseline_status=None)
    assert "Not confirmed from the verifier: its resolve_host did not reproduce" in whys[2].why
    assert whys[2].evidence.startswith("probe resolve_host(pg.internal) from the verifier: ok")
    assert whys[2].probe and "pg.internal" in whys[2].probe  # what would decide it
    # The target's own log line is the better evidence when there is one.
    log = [
        "12:00 startup failed: PostgreSQL at postgresql://pg.internal:5432/db unreachable: "
        "DNS lookup failed (EAI_AGAIN): Temporary failure in name resolution"
    ]
    whys = five_whys(group, probe=probe, log_lines=log, baseline_status=None)
    assert whys[2].evidence.startswith("log: 12:00 startup failed")
    assert "Not confirmed from the verifier" in whys[2].why


@pytest.mark.parametrize(
    ("status", "prior", "attempts", "why_start", "evidence"),
    [
        ("new", "absent", [False], "Why now? Whether this deployment introduced it is unknown",
         "baseline run B: auth.login was not run (no such check)"),
        ("new", "skipped", [False], "Why now? Whether this deployment introduced it is unknown",
         "baseline run B: auth.login was skipped"),
        ("still_failing", "error", [False], "Why now? It is not new",
         "baseline run B: auth.login already error"),
        ("flaky", "passed", [False, True], "Why now? It is intermittent",
         "attempts of auth.login in this run: failed, passed"),
    ],
)  # fmt: skip
def test_why_now_quotes_what_the_baseline_really_says(
    status: str, prior: str, attempts: list[bool], why_start: str, evidence: str
) -> None:
    check = unreachable("auth.login", "auth")
    check.attempts = attempts
    group = classify([check])[0]
    whys = five_whys(
        group, baseline_status=status, baseline_when="B", baseline_prior=prior, log_lines=[]
    )
    assert whys[3].why.startswith(why_start)
    assert whys[3].evidence == evidence


def test_the_apps_own_dependency_unavailable_answer_joins_the_down_dependencys_finding() -> None:
    """/health/ready says the database is down; a front-door 503 quoting the driver's text
    (which a specific signature matches) is the same root cause, not a second finding."""
    lost = "ConnectionError: unexpected connection_lost() call"
    dep = Check(
        "dependency.database",
        "dependency",
        "failed",
        subject="database",
        signals=["health.status:unhealthy", "health.kind:other", lost],
    )
    login = Check(
        "auth.login",
        "auth",
        "failed",
        signals=[
            "http:503",
            "auth.error:dependency_unavailable",
            f"dependency_unavailable: SQL database at postgresql+asyncpg://db:5432/tk "
            f"unavailable: {lost}",
        ],
    )
    groups = classify([dep, login])
    assert [(g.signature.id, g.subject) for g in groups] == [
        ("asyncpg_connection_closed", "database")
    ]
    assert [c.name for c in groups[0].consequences] == ["auth.login"]


def test_every_output_masks_the_secrets_its_evidence_quotes(tmp_path: Path) -> None:
    """Evidence quotes logs and errors verbatim; the files are pasted into PRs and CI."""
    dsn = "http://default:chpw-4411@ch:8123/tk"
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXBhcnQtbG9uZw"
    check = Check(
        "analytics.query",
        "dependency",
        "failed",
        2.0,
        f"ClickHouse at {dsn} refused the query",
        evidence=[f"log: TOKENOMIST_CLICKHOUSE_URL={dsn}", f"sent Authorization: Bearer {token}"],
        attempts=[False],
    )
    checks = [passed("health.ready", "health"), check]
    findings = _findings(checks)
    d = gate.decide(checks, findings, gate.Thresholds())
    doc = {
        "target": "http://t:1",
        "started_at": "2026-01-01T00:00:00+00:00",
        "decision": d.decision,
        "exit_code": d.exit_code,
        "decision_reasons": d.reasons,
        "dependencies": {},
        "checks": [c.as_dict() for c in checks],
        "findings": [f.as_dict() for f in findings],
    }
    doc["next_steps"] = report.next_steps(doc)
    paths = report.write_all(doc, tmp_path)
    for name, path in paths.items():
        text = path.read_text()
        assert "chpw-4411" not in text and token not in text, name
        assert "default:***@ch:8123" in text, name
    assert "chpw-4411" in doc["checks"][1]["message"]  # the caller's document is not changed
