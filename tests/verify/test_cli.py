"""`tokenomist verify` and `tokenomist loop` as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.verify import SECRET_A

ROOT = Path(__file__).resolve().parents[2]


def tokenomist(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tokenomist", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "20"},  # what it prints must not depend on the width
    )


def plain(text: str) -> str:
    """A usage error as words: Rich boxes it and wraps it at the terminal's width, so where the
    lines break depends on the temporary path's length (and the machine's terminal)."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", text).split())


def test_verify_unreachable_target_is_inconclusive_exit_3(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out"
    proc = tokenomist("verify", "--target", f"http://127.0.0.1:{port}", "--out", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads((out / "report.json").read_text())
    assert doc["decision"] == "inconclusive"
    [finding] = doc["findings"]
    assert (finding["signature"], finding["affected"]) == ("connection_refused", ["health.ready"])
    assert finding["whys"][2]["evidence"].startswith(f"probe tcp_connect(127.0.0.1:{port})")
    assert all((out / name).exists() for name in ("worklog.md", "junit.xml", "pr.md"))
    assert "INCONCLUSIVE" in proc.stdout


def test_verify_rejects_a_thresholds_file_with_an_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("max_failure = 3\n")
    proc = tokenomist("verify", "--target", "http://127.0.0.1:1", "--thresholds", str(bad))
    assert proc.returncode == 2
    assert "unknown key(s) max_failure" in plain(proc.stderr)


@pytest.mark.slow
def test_verify_healthy_server_with_staging_suite_exits_0(servers, tmp_path: Path) -> None:
    srv = servers()
    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"retries": 0, "min_samples": 3}))
    out = tmp_path / "out"
    proc = tokenomist(
        "verify",
        "--target",
        srv.url,
        "--suite",
        "tests/staging",
        "--concurrency",
        "2",
        "--thresholds",
        str(limits),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((out / "report.json").read_text())
    assert doc["suites"][0]["failed"] == 0 and doc["suites"][0]["collected"] >= 9
    assert any(c["name"].startswith("suite:tests/staging/") for c in doc["checks"])


def _deploy_script(tmp: Path, name: str, port: int, env: dict[str, str]) -> Path:
    pidfile, log = tmp / "server.pid", tmp / "server.log"
    exports = " ".join(f"{k}='{v}'" for k, v in env.items())
    script = tmp / name
    script.write_text(
        "#!/bin/sh\n"
        f'if [ -f {pidfile} ]; then pid=$(cat {pidfile}); kill "$pid" 2>/dev/null; '
        f'while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; fi\n'
        f"{exports} nohup {sys.executable} -m tokenomist serve --port {port} "
        f"> {log} 2>&1 < /dev/null &\n"
        f"echo $! > {pidfile}\n"
    )
    script.chmod(0o755)
    return script


@pytest.mark.slow
def test_loop_rolls_a_bad_build_back_to_the_good_one(tmp_path: Path) -> None:
    port = free_port()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    base = {"TOKENOMIST_ENVIRONMENT": "test", "TOKENOMIST_JWT_SECRET": SECRET_A}
    good = _deploy_script(
        tmp_path, "good.sh", port, {**base, "TOKENOMIST_DATA_DIR": str(tmp_path / "d")}
    )
    bad = _deploy_script(
        tmp_path, "bad.sh", port, {**base, "TOKENOMIST_DATA_DIR": str(blocker / "d")}
    )
    out = tmp_path / "out"
    try:
        proc = tokenomist(
            "loop",
            "--target",
            f"http://127.0.0.1:{port}",
            "--deploy",
            str(bad),
            "--rollback",
            str(good),
            "--ready-timeout",
            "10",
            "--concurrency",
            "2",
            "--log",
            str(tmp_path / "server.log"),
            "--out",
            str(out),
            timeout=600,
        )
    finally:
        pidfile = tmp_path / "server.pid"
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    worklog = (out / "worklog.md").read_text()
    steps = [
        "loop: start",
        "loop: deploy (iteration 1) command",
        "loop: deploy (iteration 1) readiness",
        "not ready within 10s; last probe: connection refused",
        ": INCONCLUSIVE",
        "startup failed: data dir",
        "loop: rollback decision",
        "loop: rollback command",
        "loop: rollback readiness",
        "ready after",
        ": GO",
        "rollback verified: GO",
    ]
    positions = [worklog.find(s) for s in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions), dict(zip(steps, positions, strict=True))
    deployed = json.loads((out / "deploy-1" / "report.json").read_text())
    assert deployed["findings"][0]["class"] == "configuration"
    rolled_back = json.loads((out / "rollback" / "report.json").read_text())
    assert rolled_back["decision"] == "go"
    assert os.path.exists(out / "rollback" / "pr.md")


async def test_edge_answering_502_is_an_edge_finding_not_a_product_one(tmp_path: Path) -> None:
    """A proxy whose upstream is gone: HTML 502 for every path, no app JSON anywhere."""
    from tests.support.html_server import html_server
    from tokenomist.verify.service import VerifyOptions, verify

    page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
    async with html_server(b"502 Bad Gateway", page) as url:
        doc = await verify(VerifyOptions(target=url, out_dir=tmp_path / "out"))
    [finding] = doc["findings"]
    assert (finding["signature"], finding["class"]) == ("edge_502", "infrastructure")
    assert finding["whys"][0]["evidence"].startswith("GET /health/ready → 502 <html>")
    assert doc["decision"] == "inconclusive"


@pytest.mark.parametrize(
    "target", ["localhost:8000", "ftp://host", "", "http://[::1", "http://h:x"]
)
def test_verify_refuses_a_target_that_is_not_an_http_url_naming_it(
    tmp_path: Path, target: str
) -> None:
    out = tmp_path / "out"
    proc = tokenomist("verify", "--target", target, "--out", str(out), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--target" in plain(proc.stderr) and "Traceback" not in proc.stderr
    assert not (out / "report.json").exists()  # no made-up "product regression" report


def test_verify_prints_the_cause_of_an_unreachable_target(tmp_path: Path) -> None:
    port = free_port()
    proc = tokenomist("verify", "--target", f"http://127.0.0.1:{port}", "--out", str(tmp_path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"target http://127.0.0.1:{port} unreachable: connection refused" in proc.stdout


def test_verify_refuses_a_log_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "server.log"
    proc = tokenomist(
        "verify", "--target", "http://127.0.0.1:1", "--log", str(missing), "--out", str(tmp_path)
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no such file" in plain(proc.stderr) and not (tmp_path / "report.json").exists()


def test_verify_that_cannot_write_its_outputs_exits_3_with_the_cause(tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("a file where the output directory should be\n")
    proc = tokenomist("verify", "--target", "http://127.0.0.1:1", "--out", str(out), timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "INCONCLUSIVE: verify could not complete: FileExistsError" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_loop_masks_the_deploy_commands_secrets_in_the_worklog(tmp_path: Path) -> None:
    """The deploy command and its output are quoted in the worklog: not its passwords."""
    deploy = (
        "TOKENOMIST_CLICKHOUSE_URL=http://default:chpw-5522@127.0.0.1:1/tk "
        "TOKENOMIST_JWT_SECRET=jwt-secret-6633 "
        "sh -c 'echo using $TOKENOMIST_CLICKHOUSE_URL; exit 7'"
    )
    out = tmp_path / "out"
    proc = tokenomist(
        "loop", "--target", "http://127.0.0.1:1", "--deploy", deploy, "--out", str(out)
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    worklog = (out / "worklog.md").read_text()
    assert "exit 7" in worklog and "using http://default:***@127.0.0.1:1/tk" in worklog
    assert "TOKENOMIST_JWT_SECRET=***" in worklog
    assert "chpw-5522" not in worklog and "jwt-secret-6633" not in worklog
