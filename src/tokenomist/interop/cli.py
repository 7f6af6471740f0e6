"""``tokenomist export focus --from --to -o FILE``: a client of a running server that streams
the FOCUS export to a file and says how many unpriced calls were left out of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import typer
from rich.console import Console

DEFAULT_URL = "http://127.0.0.1:8000"

export_app = typer.Typer(help="Export usage for other tools.", no_args_is_help=True)
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("focus")
def focus(
    from_: datetime = typer.Option(..., "--from", help="Range start (UTC), e.g. 2026-11-01."),
    to: datetime = typer.Option(..., "--to", help="Range end, exclusive (UTC)."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write."),
    fmt: str = typer.Option("", "--format", help="csv or parquet (default: from -o's suffix)."),
    url: str = typer.Option(DEFAULT_URL, envvar="TOKENOMIST_URL", help="Server URL."),
    api_key: str | None = typer.Option(
        None, envvar="TOKENOMIST_API_KEY", help="An API key with 'read' (or use --token)."
    ),
    token: str | None = typer.Option(None, envvar="TOKENOMIST_TOKEN", help="A user token."),
) -> None:
    """FOCUS 1.2 Cost and Usage rows of the org's LLM usage over [from, to)."""
    chosen = fmt or ("parquet" if output.suffix == ".parquet" else "csv")
    if chosen not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, not {chosen!r}")
    secret = api_key or token
    if not secret:
        _fail("pass --api-key (a key with the 'read' scope) or --token")
    params = {"from": from_.isoformat(), "to": to.isoformat(), "format": chosen}
    headers = {"Authorization": f"Bearer {secret}"}
    partial = output.with_name(output.name + ".partial")
    try:
        with (
            httpx.Client(base_url=url.rstrip("/"), timeout=300, headers=headers) as client,
            client.stream("GET", "/api/v1/exports/focus", params=params) as r,
        ):
            if r.status_code != 200:
                _fail(f"export refused: HTTP {r.status_code} {r.read().decode()[:500]}")
            size = 0
            with partial.open("wb") as fh:
                for chunk in r.iter_bytes():
                    fh.write(chunk)
                    size += len(chunk)
            unpriced = int(r.headers.get("X-Tokenomist-Unpriced-Requests", "0"))
    except httpx.ConnectError as exc:
        _fail(f"no Tokenomist server at {url}: {exc} (start one with `tokenomist serve`)")
    except httpx.HTTPError as exc:
        _fail(f"talking to {url} failed: {type(exc).__name__}: {exc}")
    partial.replace(output)  # a dropped stream never leaves a truncated file behind
    print(f"wrote {output} ({chosen}, FOCUS 1.2, {size:,} bytes)")
    if unpriced:
        print(f"left out {unpriced:,} unpriced requests (no price for their model; not $0)")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)
