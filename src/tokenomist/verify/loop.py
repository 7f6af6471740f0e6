"""deploy → wait until ready (bounded) → verify → on a regression: rollback → verify the rollback.

Every step is appended to the worklog as it happens, so an interrupted loop still leaves a
record of how far it got.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tokenomist.kit.masking import mask_secrets
from tokenomist.kit.netdiag import classify as net_classify
from tokenomist.verify import report, service
from tokenomist.verify.probes.signals import json_object


@dataclass
class LoopOptions:
    verify: service.VerifyOptions
    deploy: str
    rollback: str | None = None
    ready_timeout_s: float = 120.0
    max_iterations: int = 1
    command_timeout_s: float = 600.0
    worklog: Path | None = None


@dataclass
class StepResult:
    ok: bool
    detail: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_command(cmd: str, timeout_s: float) -> tuple[int, str]:
    """Run an operator-supplied shell command (deploy/rollback are shell lines by design)."""
    try:
        proc = subprocess.run(  # noqa: S602 - the operator's own deploy command
            cmd, shell=True, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return 124, f"command did not finish within {timeout_s:g}s"
    # Masked before the tail is cut: a cut could leave half a secret the mask no longer sees.
    return proc.returncode, mask_secrets(proc.stdout + proc.stderr)[-1500:]


async def wait_ready(target: str, timeout_s: float) -> StepResult:
    """Poll /health/ready until it answers 200 (healthy or degraded) or the bound passes."""
    deadline = time.monotonic() + timeout_s
    start = time.monotonic()
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                resp = await http.get(target.rstrip("/") + "/health/ready")
                body = json_object(resp)
                if resp.status_code == 200 and "status" in body:
                    return StepResult(
                        True,
                        f"ready after {time.monotonic() - start:.1f}s: status {body['status']}",
                    )
                # A 200 without a health body is an edge's page, not the app being ready.
                last = f"{resp.status_code} {'' if body else 'without a health body: '}"
                last += resp.text[:300]
            except httpx.HTTPError as exc:
                last = net_classify(exc).message
            if time.monotonic() >= deadline:
                return StepResult(False, f"not ready within {timeout_s:g}s; last probe: {last}")
            await asyncio.sleep(0.5)


class Worklog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def step(self, title: str, lines: list[str]) -> None:
        body = [f"### {_now()} — loop: {title}", "", *lines]
        report.append_worklog(self.path, "\n".join(body))


def _fence(text: str) -> list[str]:
    return ["```", text.strip() or "(no output)", "```"] if text is not None else []


async def _deploy_and_verify(
    opts: LoopOptions, log: Worklog, label: str, cmd: str, out: Path
) -> tuple[dict[str, Any] | None, StepResult]:
    code, output = await asyncio.to_thread(run_command, cmd, opts.command_timeout_s)
    log.step(f"{label} command", [f"`{cmd}` → exit {code}", "", *_fence(output)])
    if code != 0:
        return None, StepResult(False, f"{label} command exited {code}")
    ready = await wait_ready(opts.verify.target, opts.ready_timeout_s)
    log.step(f"{label} readiness", [ready.detail])
    vopts = replace(opts.verify, out_dir=out)
    doc = await service.verify(vopts)
    report.write_all(doc, out, worklog=log.path)
    return doc, ready


def _new_failures(doc: dict[str, Any]) -> list[str]:
    base = doc.get("baseline")
    if base is not None:
        return list(base["new"])
    return [c["name"] for c in doc["checks"] if c["status"] in ("failed", "error")]


async def run_loop(opts: LoopOptions) -> int:
    out_root = opts.verify.out_dir
    log = Worklog(opts.worklog or out_root / "worklog.md")
    log.step(
        "start",
        [
            f"target {opts.verify.target}; deploy `{opts.deploy}`; rollback "
            f"`{opts.rollback or '(none)'}`; ready timeout {opts.ready_timeout_s:g}s; "
            f"max iterations {opts.max_iterations}",
        ],
    )
    doc: dict[str, Any] | None = None
    for i in range(1, opts.max_iterations + 1):
        doc, ready = await _deploy_and_verify(
            opts, log, f"deploy (iteration {i})", opts.deploy, out_root / f"deploy-{i}"
        )
        decision = doc["decision"] if doc else "no_go"
        failed_deploy = doc is None or not ready.ok
        new = _new_failures(doc) if doc else []
        if decision == "go" and not failed_deploy:
            log.step("result", [f"deploy verified: GO (iteration {i}); nothing to roll back"])
            return 0
        regression = failed_deploy or (decision == "no_go" and bool(new))
        if not regression:
            log.step(
                "result",
                [
                    f"iteration {i}: {decision}"
                    + (" (no new failures against the baseline)" if decision == "no_go" else ""),
                    "retrying" if i < opts.max_iterations else "giving up",
                ],
            )
            continue
        why = ready.detail if failed_deploy else f"{decision} with new failures: {', '.join(new)}"
        if not opts.rollback:
            log.step("result", [f"regression ({why}); no --rollback given: left as is"])
            return 1
        log.step("rollback decision", [f"rolling back: {why}"])
        rb_doc, rb_ready = await _deploy_and_verify(
            opts, log, "rollback", opts.rollback, out_root / "rollback"
        )
        rb_decision = rb_doc["decision"] if rb_doc else "no_go"
        ok = rb_ready.ok and rb_decision == "go"
        log.step(
            "result",
            [
                f"deploy rejected ({why}); rollback "
                + ("verified: GO" if ok else f"NOT healthy: {rb_decision}; {rb_ready.detail}")
            ],
        )
        return 1
    return 3 if doc is None or doc["decision"] == "inconclusive" else 1
