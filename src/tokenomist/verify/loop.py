"""deploy → wait until ready (bounded) → verify → on a regression: rollback → verify the rollback.

Every step is appended to the worklog as it happens, so an interrupted loop still leaves a
record of how far it got.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
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
    # The deploy command rolls a service that keeps serving meanwhile (``tokenomist stack
    # roll``): the target is ready throughout, so the command's exit is what says it is done.
    rolling: bool = False


@dataclass
class StepResult:
    ok: bool
    detail: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


class DeployProcess:
    """The deploy command, started (not waited for): a command that launches the service
    and exits 0, or one that IS the service and keeps running. Its output is masked line by
    line into ``output_path``, which verify quotes as the target's log."""

    def __init__(self, cmd: str, output_path: Path) -> None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        self.output_path = output_path
        self.proc = subprocess.Popen(  # noqa: S602 - the operator's own deploy command
            cmd,
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        assert self.proc.stdout is not None
        with self.output_path.open("w") as out:
            for raw in self.proc.stdout:
                out.write(mask_secrets(raw.decode(errors="replace")))
                out.flush()

    def exit_code(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self._copier.join(5)  # the last lines (the start-up failure) are in the file
        return code

    def output_tail(self) -> str:
        return self.output_path.read_text(errors="replace")[-1500:]


async def wait_deploy(deploy: DeployProcess, target: str, opts: LoopOptions) -> StepResult:
    """Ready, or the deploy command failed: a command that exits non-zero is a failed deploy
    at once, however long --ready-timeout is. One that exits 0 launched the service: its
    readiness then gets the full --ready-timeout."""
    deadline = time.monotonic() + opts.command_timeout_s
    while True:
        code = deploy.exit_code()
        if code is not None:
            if code != 0:
                return StepResult(
                    False, f"deploy command exited {code} before the target was ready"
                )
            return await wait_ready(target, opts.ready_timeout_s)
        probe = StepResult(False, "") if opts.rolling else await wait_ready(target, 0)
        if probe.ok:
            return StepResult(True, probe.detail + " (deploy command still running: serving)")
        if time.monotonic() >= deadline:
            deploy.proc.kill()
            return StepResult(
                False, f"deploy command did not finish within {opts.command_timeout_s:g}s"
            )
        await asyncio.sleep(0.2)


async def _deploy_and_verify(
    opts: LoopOptions, log: Worklog, label: str, cmd: str, out: Path
) -> tuple[dict[str, Any] | None, StepResult]:
    deploy = DeployProcess(cmd, out / "deploy-output.log")
    ready = await wait_deploy(deploy, opts.verify.target, opts)
    code = deploy.exit_code()
    state = f"exit {code}" if code is not None else f"running (pid {deploy.proc.pid})"
    log.step(
        f"{label} command", [f"`{mask_secrets(cmd)}` → {state}", "", *_fence(deploy.output_tail())]
    )
    log.step(f"{label} readiness", [ready.detail])
    # Even a failed deploy is verified: what it printed (the start-up line naming the
    # dependency that stopped it) becomes the finding's evidence and subject.
    vopts = replace(opts.verify, out_dir=out, log_path=opts.verify.log_path or deploy.output_path)
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
