"""One verify run: probes and suites → classification → whys → baseline → gate → report."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tokenomist import __version__
from tokenomist.verify import baseline as baseline_mod
from tokenomist.verify import confirm, gate, report, suites
from tokenomist.verify.classify import classify
from tokenomist.verify.probes import ProbeConfig, RunState, run_checks
from tokenomist.verify.schemas import Check, Finding
from tokenomist.verify.signatures import Signature, default_catalogue, load
from tokenomist.verify.whys import five_whys

STARTUP_MARKERS = ("startup failed", "startup.failed")


@dataclass
class VerifyOptions:
    target: str
    user: tuple[str, str] | None = None
    user2: tuple[str, str] | None = None
    token: str | None = None
    suites: list[str] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    concurrency: int = 7
    thresholds: gate.Thresholds = field(default_factory=gate.Thresholds)
    log_path: Path | None = None  # the target's log, quoted as evidence when given
    out_dir: Path = Path("verify-out")
    # Extra signatures (same TOML format), tried before the shipped catalogue.
    signatures_path: Path | None = None
    suite_timeout_s: float = 900.0
    run_timeout_s: float = 180.0


def read_log(path: Path | None, limit: int = 5000) -> list[str]:
    if path is None or not path.exists():
        return []
    return path.read_text(errors="replace").splitlines()[-limit:]


async def verify(opts: VerifyOptions) -> dict[str, Any]:
    started = datetime.now(UTC)
    probed = await run_checks(
        ProbeConfig(
            opts.target,
            opts.thresholds,
            user=opts.user,
            user2=opts.user2,
            token=opts.token,
            concurrency=opts.concurrency,
            run_timeout_s=opts.run_timeout_s,
        )
    )
    checks: list[Check] = list(probed.checks)
    log_lines = read_log(opts.log_path)
    if not probed.reachable:
        _attach_startup_lines(checks, log_lines)

    suite_results = await _run_suites(opts, probed, checks)

    base = baseline_mod.compare(checks, opts.baseline) if opts.baseline else None
    findings = await build_findings(checks, opts, log_lines, base)
    decision = gate.decide(
        checks,
        findings,
        opts.thresholds,
        target_reachable=probed.reachable,
        suites=[s.summary() for s in suite_results],
    )
    doc: dict[str, Any] = {
        "target": opts.target,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verifier_version": __version__,
        "decision": decision.decision,
        "exit_code": decision.exit_code,
        "decision_reasons": decision.reasons,
        "target_info": _target_info(probed.health),
        "dependencies": probed.dependencies,
        "checks": [c.as_dict() for c in checks],
        "findings": [f.as_dict() for f in findings],
        "suites": [s.summary() for s in suite_results],
        "thresholds": asdict(opts.thresholds),
    }
    if base is not None:
        doc["baseline"] = base
    doc["next_steps"] = report.next_steps(doc)
    return doc


async def _run_suites(
    opts: VerifyOptions, probed: RunState, checks: list[Check]
) -> list[suites.SuiteResult]:
    """Run the operator's suites (their checks join ``checks``); none against an unreachable
    target, where each is a skipped check instead."""
    if not probed.reachable:
        for path in opts.suites:
            checks.append(Check(f"suite:{path}", "suite", "skipped", 0.0, "target unreachable"))
        return []
    env = suite_env(opts, probed)
    results: list[suites.SuiteResult] = []
    for i, path in enumerate(opts.suites):
        result = await asyncio.to_thread(
            suites.run_suite,
            path,
            env=env,
            out_dir=opts.out_dir / "suites",
            index=i,
            timeout_s=opts.suite_timeout_s,
            retries=opts.thresholds.retries,
        )
        results.append(result)
        checks.extend(result.checks)
    return results


def suite_env(opts: VerifyOptions, probed: RunState) -> dict[str, str]:
    env = {"TOKENOMIST_VERIFY_TARGET": opts.target}
    if probed.users:
        first = probed.users[0]
        env["TOKENOMIST_VERIFY_USER"] = first.email
        env["TOKENOMIST_VERIFY_PASSWORD"] = first.password
    if len(probed.users) > 1:
        env["TOKENOMIST_VERIFY_USER2"] = probed.users[1].email
        env["TOKENOMIST_VERIFY_PASSWORD2"] = probed.users[1].password
    return env


def _attach_startup_lines(checks: list[Check], log_lines: list[str]) -> None:
    """The target never came up: its start-up line (when we have its log) is the evidence."""
    lines = [ln.strip() for ln in log_lines if any(m in ln for m in STARTUP_MARKERS)]
    if not lines:
        return
    subject = startup_subject(lines[0])
    for c in checks:
        if c.name == "health.ready":
            c.signals = [*lines, *c.signals]
            # The line that says why start-up stopped is the first evidence, the refused
            # connection (a mere consequence) after it.
            c.evidence = [*(f"log: {ln}" for ln in lines[:2]), *c.evidence]
            if subject is not None:  # the dependency that blocked start-up is the subject
                c.subject = subject


# The start-up line names the dependency that stopped it: "startup failed: ClickHouse at …".
_STARTUP_SUBJECTS = (
    ("PostgreSQL at", "database"),
    ("SQLite at", "database"),
    ("SQL database URL", "database"),
    ("SQL migrations at", "database"),
    ("ClickHouse at", "analytics"),
    ("chDB at", "analytics"),
    ("Redis at", "cache"),
    ("Redis URL", "cache"),
)


def startup_subject(line: str) -> str | None:
    _, found, rest = line.partition("startup failed: ")
    if not found:
        return None
    return next((subj for prefix, subj in _STARTUP_SUBJECTS if rest.startswith(prefix)), None)


async def build_findings(
    checks: list[Check],
    opts: VerifyOptions,
    log_lines: list[str],
    base: dict[str, Any] | None,
) -> list[Finding]:
    groups = classify(checks, catalogue(opts.signatures_path), log_lines=log_lines)
    target = urlsplit(opts.target)
    findings: list[Finding] = []
    for n, g in enumerate(groups, 1):
        if g.subject == "target" and "host" not in g.values and target.hostname:
            g.values["host"] = target.hostname
            g.values["port"] = str(target.port or (443 if target.scheme == "https" else 80))
        probe = await confirm.run_for(g, opts.target)
        first = g.checks[0].name
        whys = five_whys(
            g,
            probe=probe,
            log_lines=log_lines,
            baseline_status=baseline_mod.status_of(first, base),
            baseline_when=(base or {}).get("against"),
            baseline_prior=_prior_status(first, opts.baseline),
        )
        klass = g.signature.klass
        findings.append(
            Finding(
                id=f"F{n}",
                klass=klass,  # type: ignore[arg-type]
                title=f"{g.signature.title} — {g.subject}",
                signature=g.signature.id,
                subject=g.subject,
                affected=[c.name for c in g.checks + g.consequences],
                cause=g.fill(g.signature.cause),
                fix=g.fill(g.signature.fix),
                confirm_probe=g.fill(g.signature.confirm_probe),
                whys=whys,
                matched=g.match.text[:300],
            )
        )
    return findings


def _prior_status(name: str, baseline: dict[str, Any] | None) -> str | None:
    if not baseline:
        return None
    for c in baseline.get("checks", []):
        if c.get("name") == name:
            return str(c.get("status"))
    return "absent"


def catalogue(extra: Path | None) -> tuple[Signature, ...]:
    """The operator's own signatures first (they know their platform), then the shipped ones."""
    if extra is None:
        return default_catalogue()
    return (*load(extra), *default_catalogue())


def _target_info(health: dict[str, Any] | None) -> dict[str, Any]:
    if not health:
        return {}
    return {k: health.get(k) for k in ("status", "version", "environment", "uptime_s")}


def load_baseline(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"baseline {path}: {exc}") from exc
