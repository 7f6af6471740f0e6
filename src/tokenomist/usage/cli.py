"""``tokenomist ingest`` and ``tokenomist demo-data``.

``ingest`` is a client of a running server by default: it logs in (API key, or email and
password; by default the demo user whose password the server keeps in its data dir) and
streams each file to ``POST /api/v1/usage/import`` in chunks cut at line boundaries (CSV
chunks repeat the header), so files larger than the server's body limit go through. Row
errors are reported with the line numbers of the original file. ``--local --org ORG`` loads
straight into the data dir instead, when no server holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from tokenomist.kit import console as kit_console
from tokenomist.settings import Settings

if TYPE_CHECKING:
    from tokenomist.kit.resources import Resources

DEFAULT_URL = "http://127.0.0.1:8000"
LINE_FORMATS = {"canonical", "azure-trace", "litellm"}  # safe to split at line boundaries


def _err() -> Console:
    """Messages and progress go to stderr (plain when it is not a terminal); results to stdout."""
    return kit_console.console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("demo-data")(demo_data)


@dataclass
class FileResult:
    name: str
    format: str = "?"
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unpriced: int = 0
    cost_usd: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason code → rows left out
    failure: str | None = None

    def add(self, report: dict[str, Any], line_offset: int = 0) -> None:
        self.format = report.get("format") or self.format
        for key in ("accepted", "duplicates", "rejected", "unpriced"):
            setattr(self, key, getattr(self, key) + int(report[key]))
        for reason, count in (report.get("skipped") or {}).items():
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)
        self.cost_usd += float(report["cost_usd"] or 0.0)
        for err in report["errors"]:
            self.errors.append({**err, "index": err["index"] + line_offset})


def ingest(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    format: str | None = typer.Option(None, "--format", help="Format name (default: detect)."),
    provider: str | None = typer.Option(None, help="Provider (azure-trace files)."),
    model: str | None = typer.Option(None, help="Model (azure-trace files)."),
    project: str | None = typer.Option(None, help="Project tag (azure-trace files)."),
    url: str = typer.Option(DEFAULT_URL, envvar="TOKENOMIST_URL", help="Server URL."),
    api_key: str | None = typer.Option(None, envvar="TOKENOMIST_API_KEY", help="Org API key."),
    email: str | None = typer.Option(None, envvar="TOKENOMIST_EMAIL", help="Login email."),
    password: str | None = typer.Option(None, envvar="TOKENOMIST_PASSWORD", help="Password."),
    chunk_mb: float = typer.Option(8.0, help="Upload chunk size in MB."),
    local: bool = typer.Option(False, "--local", help="Load into the data dir, no server."),
    org: str | None = typer.Option(None, "--org", help="--local: org id or name."),
) -> None:
    """Import usage files (canonical JSON/NDJSON/CSV, OpenAI usage export, OTLP JSON,
    LiteLLM spend logs, Azure trace CSV) and print what was accepted and what it cost."""
    params = {
        k: v
        for k, v in {
            "format": format,
            "provider": provider,
            "model": model,
            "project": project,
        }.items()
        if v
    }
    if local:
        if not org:
            _err().print("[red]--local needs --org ORG (an org id or name)[/red]")
            raise typer.Exit(2)
        results = _ingest_local(files, org, params)
    else:
        results = _ingest_remote(files, url, api_key, email, password, params, chunk_mb)
    _print_results(results)
    if any(r.failure for r in results):
        raise typer.Exit(1)


# -- client mode -------------------------------------------------------------------------------


def _auth_headers(client: httpx.Client, api_key: str | None, email: str | None,
                  password: str | None) -> dict[str, str]:  # fmt: skip
    if api_key:
        return {"X-API-Key": api_key}
    from tokenomist.usage import demo  # local: keeps the price data out of CLI start-up

    if not email:
        email, demo_password = demo.local_demo_credentials(Settings().data_dir)
        password = password or demo_password
    if not password:
        _err().print(
            f"[red]no credentials: pass --api-key, or --email and --password (the demo user's "
            f"password is read from {demo.demo_password_file(Settings().data_dir)} when the "
            f"server runs with --demo)[/red]"
        )
        raise typer.Exit(2)
    resp = client.post("/auth/login", json={"email": email, "password": password})
    if resp.status_code != 200:
        _err().print(f"[red]login as {email} failed: HTTP {resp.status_code} {_error(resp)}[/red]")
        raise typer.Exit(1)
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _error(resp: httpx.Response) -> str:
    try:
        err = resp.json()["error"]
        return _refusal(err["code"], err["message"], err.get("details"))
    except (ValueError, KeyError, TypeError):
        return resp.text[:300]


def _refusal(code: str, message: str, details: Any) -> str:
    """A refusal as the CLI user acts on it: the server's message tells an HTTP caller to
    pass ``?format=``; here the choice is ``--format``."""
    if code == "unknown_format" and isinstance(details, dict) and "reason" in details:
        from tokenomist.usage import formats

        message = formats.unknown_format_message(details, choose="--format ")
    return f"{code}: {message}"


def _ingest_remote(files: list[Path], url: str, api_key: str | None, email: str | None,
                   password: str | None, params: dict[str, str],
                   chunk_mb: float) -> list[FileResult]:  # fmt: skip
    results = []
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(300.0, connect=5.0)) as client:
            headers = _auth_headers(client, api_key, email, password)
            with _UploadProgress() as progress:
                for path in files:
                    results.append(
                        _upload(client, headers, path, params, int(chunk_mb * 1e6), progress)
                    )
    except httpx.TransportError as exc:
        _err().print(f"[red]Tokenomist server at {url} unreachable: {exc}[/red]")
        raise typer.Exit(1) from None
    return results


class _UploadProgress:
    """A Rich bar per file on a terminal; otherwise one plain stderr line per file when it is
    sent — before the result table, never a bar's last frame drawn after it."""

    def __init__(self) -> None:
        err = _err()
        self.bar: Progress | None = None
        if kit_console.is_tty(err.file):
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                TimeRemainingColumn(), console=err, transient=False,
            )  # fmt: skip

    def __enter__(self) -> _UploadProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def add(self, name: str, total: int) -> Any:
        return self.bar.add_task(name, total=total) if self.bar is not None else None

    def advance(self, task: Any, sent: int) -> None:
        if self.bar is not None:
            self.bar.advance(task, sent)

    def done(self, task: Any, name: str, sent: int, size: int, failure: str | None) -> None:
        if self.bar is not None:
            self.bar.update(task, completed=size)
            return
        state = f"stopped: {failure}" if failure else "sent"
        _err().print(f"{name}: {sent:,} of {size:,} bytes {state}", markup=False)


def _upload(client: httpx.Client, headers: dict[str, str], path: Path, params: dict[str, str],
            chunk_bytes: int, progress: _UploadProgress) -> FileResult:  # fmt: skip
    from tokenomist.usage import formats

    result = FileResult(path.name)
    size = path.stat().st_size
    task = progress.add(path.name, size)
    sent = 0
    with path.open("rb") as fh:
        head = fh.read(65536)
    try:
        fmt = formats.resolve(params.get("format"), head).NAME
    except Exception:
        fmt = None  # let the server say what it makes of it
    splittable = fmt in LINE_FORMATS and head.lstrip()[:1] != b"["
    for body, offset in _chunks(path, chunk_bytes if splittable else None, fmt):
        resp = client.post("/api/v1/usage/import", params=params, content=body, headers=headers)
        progress.advance(task, len(body))
        sent += len(body)
        if resp.status_code != 200:
            result.failure = f"HTTP {resp.status_code} {_error(resp)}"
            break
        result.add(resp.json(), offset)
    progress.done(task, path.name, min(sent, size), size, result.failure)
    return result


def _chunks(path: Path, chunk_bytes: int | None, fmt: str | None):
    """(body, line offset) pieces of the file, cut at line boundaries; CSV pieces repeat the
    header. The offset maps a line number in the piece back to the file."""
    data = path.read_bytes()
    if chunk_bytes is None or len(data) <= chunk_bytes:
        yield data, 0
        return
    is_csv = fmt == "azure-trace" or (fmt == "canonical" and data.lstrip()[:1] not in (b"{",))
    header = b""
    start = 0
    if is_csv:
        nl = data.index(b"\n") + 1
        header, start = data[:nl], nl
    line = data[:start].count(b"\n")  # lines before this piece
    while start < len(data):
        end = min(start + chunk_bytes, len(data))
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else data.index(b"\n", end) + 1
        piece = data[start:end]
        # In a CSV piece the server counts the repeated header as line 1.
        yield header + piece, line - (1 if is_csv else 0)
        line += piece.count(b"\n")
        start = end


# -- local mode ----------------------------------------------------------------------------------


def _ingest_local(files: list[Path], org: str, params: dict[str, str]) -> list[FileResult]:
    from tokenomist.kit.analytics import data_dir_holder
    from tokenomist.kit.logging import configure_logging

    settings = Settings()
    configure_logging("WARNING")  # the table is the output; info logs would bury it
    if not settings.clickhouse_url:
        holder = data_dir_holder(settings.chdb_path)
        if holder is not None:
            _err().print(
                f"[red]the data dir {settings.chdb_path} is held by a running server (pid "
                f"{holder}); drop --local to send the files to it, or stop it first[/red]"
            )
            raise typer.Exit(1)
    return asyncio.run(_load_local(settings, files, org, params))


async def _resolve_org(resources: Resources, org: str) -> str:
    from sqlalchemy import or_, select

    from tokenomist.auth.models import Org

    async with resources.sessions() as session:
        rows = (
            await session.execute(
                select(Org.id, Org.name).where(or_(Org.id == org, Org.name == org))
            )
        ).all()
    if not rows:
        _err().print(f"[red]no org with id or name {org!r} in {resources.database_url}[/red]")
        raise typer.Exit(1)
    if len(rows) > 1:
        _err().print(f"[red]{len(rows)} orgs are named {org!r}; pass the org id[/red]")
        raise typer.Exit(1)
    return rows[0][0]


async def _load_local(settings: Settings, files: list[Path], org: str,
                      params: dict[str, str]) -> list[FileResult]:  # fmt: skip
    from tokenomist.kit.errors import TokenomistError
    from tokenomist.kit.resources import close_resources, open_resources
    from tokenomist.usage import service
    from tokenomist.usage.formats import ImportOptions
    from tokenomist.usage.lifecycle import start

    resources = await open_resources(settings)
    try:
        await start(resources)
        org_id = await _resolve_org(resources, org)
        results = []
        options = ImportOptions(params.get("provider"), params.get("model"), params.get("project"))
        for path in files:
            result = FileResult(path.name)
            with _loading(path.name):
                try:
                    report = await service.import_file(
                        resources, org_id, path, format=params.get("format"), options=options
                    )
                    result.add(report.as_dict())
                except TokenomistError as exc:
                    result.failure = _refusal(exc.code, exc.message, exc.details)
            results.append(result)
        return results
    finally:
        await close_resources(resources)


def _loading(name: str) -> Any:
    """A spinner on a terminal; elsewhere one plain line before the work starts."""
    err = _err()
    if kit_console.is_tty(err.file):
        return err.status(f"loading {name}")
    err.print(f"loading {name}", markup=False)
    return contextlib.nullcontext()


IMPORT_COLUMNS = ("file", "format", "accepted", "duplicates", "rejected", "skipped",
                  "unpriced", "spend (USD)")  # fmt: skip


def _print_results(results: list[FileResult]) -> None:
    rows = [
        (r.name, r.format, f"{r.accepted:,}", f"{r.duplicates:,}", f"{r.rejected:,}",
         f"{sum(r.skipped.values()):,}", f"{r.unpriced:,}", f"{r.cost_usd:,.4f}")
        for r in results
    ]  # fmt: skip
    kit_console.print_table(
        kit_console.console(), "Usage import", IMPORT_COLUMNS, rows, right=IMPORT_COLUMNS[2:]
    )
    for r in results:
        if r.failure:
            _err().print(f"[red]{escape(r.name)}: refused: {escape(r.failure)}[/red]")
        if r.skipped:
            reasons = ", ".join(f"{n:,} {reason}" for reason, n in sorted(r.skipped.items()))
            _err().print(f"  {r.name}: skipped {reasons}", markup=False)
        for err in r.errors[:10]:
            _err().print(f"  {r.name}:{err['index']}: {err['field'] or '(row)'}: {err['message']}")
        if len(r.errors) > 10:
            _err().print(f"  ... and {r.rejected - 10:,} more row errors")


# -- demo data -----------------------------------------------------------------------------------


def demo_data(
    out: Path | None = typer.Option(None, "--out", help="Write NDJSON here ('-' = stdout)."),
    seed: int = typer.Option(7, help="Random seed (same seed, same workload)."),
    days: int = typer.Option(30, help="Days of traffic, ending now."),
    clean: bool = typer.Option(False, "--clean", help="No planted inefficiencies."),
    local: bool = typer.Option(False, "--local", help="Load into the data dir, no server."),
    org: str | None = typer.Option(None, "--org", help="--local: org id or name."),
) -> None:
    """Generate the synthetic demo workload (DESIGN §6 inefficiencies planted and documented);
    write it as NDJSON and/or load it into an org, and list what was planted."""
    from tokenomist.usage.demo import generate

    if not out and not local:
        _err().print("[red]pass --out FILE (or '-') and/or --local --org ORG[/red]")
        raise typer.Exit(2)
    workload = generate(seed=seed, days=days, planted=not clean)
    if out:
        lines = b"".join(json.dumps(r).encode() + b"\n" for r in workload.records)
        if str(out) == "-":
            sys.stdout.buffer.write(lines)
            sys.stdout.flush()
        else:
            out.write_bytes(lines)
            _err().print(f"wrote {len(workload.records):,} records to {out}")
    if local:
        if not org:
            _err().print("[red]--local needs --org ORG[/red]")
            raise typer.Exit(2)
        fd, name = tempfile.mkstemp(prefix="tokenomist-demo-", suffix=".ndjson")
        os.close(fd)
        tmp = Path(name)
        tmp.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in workload.records))
        try:
            _print_results(_ingest_local([tmp], org, {"format": "canonical"}))
        finally:
            tmp.unlink(missing_ok=True)
    rows = [
        (p.strategy_id, f"{p.scope['project']}/{p.scope['feature']}",
         f"{p.scope['provider']}/{p.scope['model']}", f"{p.savings_usd:,.2f}")
        for p in workload.planted.values()
    ]  # fmt: skip
    kit_console.print_table(
        _err(),
        f"Planted inefficiencies ({workload.start:%Y-%m-%d} to {workload.end:%Y-%m-%d})",
        ("strategy", "project/feature", "model", "savings (USD)"),
        rows,
        right=("savings (USD)",),
    )
