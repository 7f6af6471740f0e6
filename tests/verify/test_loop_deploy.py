"""`loop` with a deploy command that IS the service (`tokenomist serve` in the foreground)
and a dependency that stops its start-up: the loop sees the command die without waiting out
--ready-timeout, and the finding is about that dependency, quoting the deploy's own output."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.verify import SECRET_A, options
from tokenomist.verify.loop import LoopOptions, run_loop

pytestmark = pytest.mark.slow


async def test_clickhouse_on_a_closed_port_through_loop_is_a_finding_about_clickhouse(
    tmp_path: Path,
) -> None:
    ch_port, port = free_port(), free_port()
    env = {
        "TOKENOMIST_ENVIRONMENT": "test",
        "TOKENOMIST_JWT_SECRET": SECRET_A,
        "TOKENOMIST_DATA_DIR": str(tmp_path / "data"),
        "TOKENOMIST_CLICKHOUSE_URL": f"http://127.0.0.1:{ch_port}",
        "TOKENOMIST_STARTUP_TIMEOUT_S": "30",
    }
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    deploy = f"env {assigns} {shlex.quote(sys.executable)} -m tokenomist serve --port {port}"
    out = tmp_path / "out"
    vopts = options(f"http://127.0.0.1:{port}", tmp_path)
    vopts.out_dir = out
    # An hour: were the loop to wait it out, the test would time out rather than pass.
    code = await run_loop(LoopOptions(verify=vopts, deploy=deploy, ready_timeout_s=3600))
    assert code == 1
    worklog = (out / "worklog.md").read_text()
    assert "deploy command exited 3 before the target was ready" in worklog
    assert "not ready within" not in worklog

    doc = json.loads((out / "deploy-1" / "report.json").read_text())
    [finding] = doc["findings"]
    assert (finding["subject"], finding["class"], finding["signature"]) == (
        "analytics",
        "infrastructure",
        "connection_refused",
    )
    assert finding["cause"].startswith(f"Nothing listens on 127.0.0.1:{ch_port} ")
    assert finding["fix"].startswith("Start the service or correct the port for analytics")
    first = finding["whys"][0]["evidence"]
    assert first.startswith("log: ") and "startup failed: ClickHouse at " in first, first
    assert f"127.0.0.1:{ch_port}" in first and "connection refused" in first
    # The verifier reproduced it against ClickHouse's address, not the target's.
    assert finding["whys"][2]["evidence"].startswith(
        f"probe tcp_connect(127.0.0.1:{ch_port}) from the verifier: failed: connection refused"
    )
    assert (doc["decision"], doc["exit_code"]) == ("inconclusive", 3)
