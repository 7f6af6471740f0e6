"""``tokenomist verify`` and ``tokenomist loop``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import typer

from tokenomist.kit.masking import mask_secrets
from tokenomist.verify import gate, report, service
from tokenomist.verify.loop import LoopOptions, run_loop


def _options(
    target: str,
    user: str | None,
    password: str | None,
    user2: str | None,
    password2: str | None,
    token: str | None,
    suite: list[str],
    baseline: Path | None,
    out: Path,
    concurrency: int,
    thresholds: Path | None,
    log: Path | None,
    signatures: Path | None = None,
) -> service.VerifyOptions:
    _check_target(target)
    if bool(user) != bool(password):
        raise typer.BadParameter("--user and --password go together (or set both env vars)")
    if bool(user2) != bool(password2):
        raise typer.BadParameter("--user2 and --password2 go together")
    try:
        limits = gate.load_thresholds(thresholds)
        base = service.load_baseline(baseline)
        if signatures is not None:
            service.catalogue(signatures)  # refuse a bad file before probing anything
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return service.VerifyOptions(
        target=target,
        user=(user, password) if user and password else None,
        user2=(user2, password2) if user2 and password2 else None,
        token=token,
        suites=list(suite),
        baseline=base,
        concurrency=concurrency,
        thresholds=limits,
        log_path=log,
        out_dir=out,
        signatures_path=signatures,
    )


def _check_target(target: str) -> None:
    """A target that is not an http(s) URL is the operator's typo, not a finding about the
    deployment (it used to be reported as a product regression, or crash with exit 1)."""
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise typer.BadParameter(f"--target {target!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"--target {target!r} must be an http:// or https:// URL with a host, "
            "e.g. http://127.0.0.1:8000"
        )


def _crashed(command: str, exc: Exception) -> NoReturn:
    """The verifier itself failed (e.g. an unwritable --out): that decides nothing about the
    target, so exit 3 (inconclusive) with the cause — never 1, which a pipeline reads as no_go."""
    typer.echo(
        mask_secrets(f"INCONCLUSIVE: {command} could not complete: {type(exc).__name__}: {exc}"),
        err=True,
    )
    sys.exit(3)


def _first_message(doc: dict, finding: dict) -> str | None:
    by_name = {c["name"]: c for c in doc["checks"]}
    for name in finding["affected"]:
        message = (by_name.get(name) or {}).get("message")
        if message:
            return message
    return None


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
    app.command("loop")(loop_command)


def verify_command(
    target: str = typer.Option(..., help="Base URL of the deployment, e.g. http://host:8000"),
    user: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_USER", help="Login email."),
    password: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_PASSWORD"),
    user2: str = typer.Option(
        None,
        envvar="TOKENOMIST_VERIFY_USER2",
        help="Second user (isolation); registered "
        "through /auth/register when omitted and sign-up is on.",
    ),
    password2: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_PASSWORD2"),
    token: str = typer.Option(
        None,
        envvar="TOKENOMIST_VERIFY_TOKEN",
        help="An access token issued elsewhere (e.g. another instance) that must be accepted.",
    ),
    suite: list[str] = typer.Option([], help="pytest suite to run against the target."),
    baseline: Path = typer.Option(None, help="report.json of a previous run."),
    out: Path = typer.Option(Path("verify-out"), help="Directory for the four outputs."),
    concurrency: int = typer.Option(7, min=1, help="Concurrent golden paths."),
    thresholds: Path = typer.Option(None, help="Thresholds file (TOML or JSON)."),
    log: Path = typer.Option(None, help="The target's log file, quoted as evidence."),
    worklog: Path = typer.Option(None, help="Worklog to append to (default OUT/worklog.md)."),
    signatures: Path = typer.Option(
        None, help="Extra signature catalogue (TOML), tried before the shipped one."
    ),
) -> None:
    """Verify a deployment end to end; exit 0 go, 1 no_go, 3 inconclusive."""
    # (loop may name a log its deploy command has yet to create; verify reads it now.)
    if log is not None and not log.is_file():
        raise typer.BadParameter(f"--log {log}: no such file (the target's log to quote)")
    opts = _options(
        target,
        user,
        password,
        user2,
        password2,
        token,
        suite,
        baseline,
        out,
        concurrency,
        thresholds,
        log,
        signatures,
    )
    try:
        doc = asyncio.run(service.verify(opts))
        paths = report.write_all(doc, out, worklog=worklog)
    except Exception as exc:
        _crashed("verify", exc)
    _print_outcome(doc, target, paths)
    sys.exit(doc["exit_code"])


def _print_outcome(doc: dict, target: str, paths: dict) -> None:
    """The decision, its reasons and each finding with its first check's message (masked:
    a check's message may quote a URL with its password)."""
    lines = [f"{report.DECISION_WORDS[doc['decision']]}: {target}"]
    lines += [f"  - {reason}" for reason in doc["decision_reasons"]]
    for f in doc["findings"]:
        lines.append(f"  {f['id']} [{f['class']}] {f['title']}: {', '.join(f['affected'])}")
        message = _first_message(doc, f)
        if message:
            lines.append(f"      {message}")
    lines.append("wrote " + ", ".join(str(p) for p in paths.values()))
    typer.echo(mask_secrets("\n".join(lines)))


def loop_command(
    target: str = typer.Option(..., help="Base URL the deploy serves on."),
    deploy: str = typer.Option(..., help="Shell command that deploys the new build."),
    rollback: str = typer.Option(None, help="Shell command that restores the previous build."),
    ready_timeout: float = typer.Option(120.0, help="Seconds to wait for /health/ready."),
    max_iterations: int = typer.Option(1, min=1, help="Deploy attempts on inconclusive."),
    rolling: bool = typer.Option(
        False,
        "--rolling",
        help="The deploy and rollback commands roll a service that keeps serving (e.g. "
        "`tokenomist stack roll`): wait for each command to exit instead of the first ready "
        "answer; one that exits non-zero (a build that dies at once) fails the deploy at once.",
    ),
    user: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_USER"),
    password: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_PASSWORD"),
    user2: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_USER2"),
    password2: str = typer.Option(None, envvar="TOKENOMIST_VERIFY_PASSWORD2"),
    suite: list[str] = typer.Option([], help="pytest suite to run against the target."),
    baseline: Path = typer.Option(None, help="report.json of the current good build."),
    out: Path = typer.Option(Path("verify-out"), help="Output directory."),
    concurrency: int = typer.Option(7, min=1),
    thresholds: Path = typer.Option(None, help="Thresholds file (TOML or JSON)."),
    log: Path = typer.Option(None, help="The target's log file, quoted as evidence."),
    worklog: Path = typer.Option(None, help="Worklog to append to (default OUT/worklog.md)."),
) -> None:
    """Deploy, verify, and roll back a regression; exit 0 go, 1 rolled back/no_go, 3."""
    opts = _options(
        target,
        user,
        password,
        user2,
        password2,
        None,
        suite,
        baseline,
        out,
        concurrency,
        thresholds,
        log,
    )
    try:
        code = asyncio.run(
            run_loop(
                LoopOptions(
                    verify=opts,
                    deploy=deploy,
                    rollback=rollback,
                    ready_timeout_s=ready_timeout,
                    max_iterations=max_iterations,
                    worklog=worklog,
                    rolling=rolling,
                )
            )
        )
    except Exception as exc:
        _crashed("loop", exc)
    typer.echo(f"loop finished with exit {code}; worklog: {worklog or out / 'worklog.md'}")
    sys.exit(code)
