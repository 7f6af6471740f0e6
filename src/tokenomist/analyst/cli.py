"""``tokenomist ask "question"``: a client of a running server. Logs in (flags, env, or the
demo user whose password the server keeps in its data dir), starts a run through
``POST /api/v1/runs``, streams the agent timeline live from the SSE endpoint (reconnecting
with ``Last-Event-ID`` if the stream drops) and prints the report."""

from __future__ import annotations

import json
import time

import httpx
import typer
from httpx_sse import SSEError, connect_sse
from rich.markdown import Markdown

from tokenomist.kit import console as kit_console
from tokenomist.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = {"run_completed", "run_failed"}
RECONNECTS = 5


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)


def ask(
    question: str = typer.Argument(..., help="What to ask, e.g. 'How can we cut our AI spend?'"),
    url: str = typer.Option(DEFAULT_URL, envvar="TOKENOMIST_URL", help="Server URL."),
    email: str | None = typer.Option(None, envvar="TOKENOMIST_EMAIL", help="Login email."),
    password: str | None = typer.Option(None, envvar="TOKENOMIST_PASSWORD", help="Password."),
    thread: str | None = typer.Option(None, help="Continue this thread id."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="Only the answer, no agent timeline."),
) -> None:
    """Ask the analyst; watch the agents work; get the answer from your own usage data."""
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
            token = _login(client, email, password)
            client.headers["Authorization"] = f"Bearer {token}"
            body = {"message": question} | ({"thread_id": thread} if thread else {})
            r = client.post("/api/v1/runs", json=body)
            if r.status_code != 202:
                _fail(f"could not start the analysis: HTTP {r.status_code} {_error(r)}")
            run_id = r.json()["run_id"]
            if not quiet:
                _err().print(f"[dim]run {run_id}[/dim]")
            last = _follow(client, run_id, quiet)
            run = client.get(f"/api/v1/runs/{run_id}")
    except httpx.ConnectError as exc:
        _fail(f"no Tokenomist server at {url}: {exc} (start one with `tokenomist serve`)")
    except httpx.HTTPError as exc:
        _fail(f"talking to {url} failed: {type(exc).__name__}: {exc}")
    if run.status_code != 200:
        _fail(f"could not read run {run_id}: HTTP {run.status_code} {_error(run)}")
    result = run.json()
    if result["status"] != "completed":
        error = result.get("error") or (last or {}).get("data") or {}
        _fail(f"the analysis {result['status']}: {error.get('code')}: {error.get('message')}")
    _print_answer(result, as_json)


def _print_answer(result: dict, as_json: bool) -> None:
    """Rendered on a terminal; elsewhere the JSON or the Markdown source as it is (Rich would
    lay it out for 80 columns and cut table cells: ``analytics/nightly-s…``)."""
    out = kit_console.console()
    if kit_console.is_tty(out.file):
        if as_json:
            out.print_json(json.dumps(result["report"]))
        else:
            out.print(Markdown(result["content"]))
        return
    text = json.dumps(result["report"], indent=2) if as_json else result["content"]
    out.file.write(text.rstrip("\n") + "\n")
    out.file.flush()


def _login(client: httpx.Client, email: str | None, password: str | None) -> str:
    from tokenomist.usage import demo  # local: keeps the price data out of CLI start-up

    if not email:
        email, demo_password = demo.local_demo_credentials(Settings().data_dir)
        password = password or demo_password
    if not password:
        _fail(
            f"no password for {email}: pass --email/--password (or TOKENOMIST_EMAIL/"
            f"TOKENOMIST_PASSWORD); the demo user's password is read from "
            f"{demo.demo_password_file(Settings().data_dir)} when the server runs with the "
            "demo data"
        )
    r = client.post("/auth/login", json={"email": email, "password": password})
    if r.status_code != 200:
        _fail(f"login as {email} failed: HTTP {r.status_code} {_error(r)}")
    return r.json()["access_token"]


def _follow(client: httpx.Client, run_id: str, quiet: bool) -> dict | None:
    """Print events until the terminal one; resume after the last seq if the stream drops."""
    last_seq, last = 0, None
    for attempt in range(RECONNECTS + 1):
        headers = {"Last-Event-ID": str(last_seq)} if last_seq else {}
        try:
            with connect_sse(
                client,
                "GET",
                f"/api/v1/runs/{run_id}/events",
                headers=headers,
                timeout=httpx.Timeout(30, read=60),
            ) as sse:
                if sse.response.status_code != 200:
                    _fail(f"event stream: HTTP {sse.response.status_code}")
                for event in sse.iter_sse():
                    frame = json.loads(event.data)
                    if event.event == "error":
                        _err().print(f"[yellow]event stream: {frame.get('message')}[/yellow]")
                        return last
                    last_seq, last = frame["seq"], frame
                    if not quiet:
                        _show(frame)
                    if frame["type"] in TERMINAL:
                        return frame
        except (httpx.TransportError, SSEError) as exc:
            if attempt == RECONNECTS:
                _fail(f"event stream lost after {RECONNECTS} reconnects: {exc}")
            _err().print(
                f"[yellow]stream dropped ({exc}); resuming after event {last_seq}[/yellow]"
            )
            time.sleep(min(2**attempt * 0.2, 3))
    return last


def _show(frame: dict) -> None:
    kind, d = frame["type"], frame["data"]
    if kind == "agent_started":
        _err().print(f"[bold cyan]▶ {d['agent']}[/bold cyan]")
    elif kind == "agent_thinking":
        _err().print(f"  [dim]… {d['text']}[/dim]")
    elif kind == "tool_executing":
        args = ", ".join(f"{k}={v}" for k, v in d["args"].items() if k not in ("from", "to"))
        _err().print(f"  [magenta]⚙ {d['tool']}[/magenta]({args})", end="")
    elif kind == "tool_completed":
        style = "green" if d["status"] == "completed" else "red"
        _err().print(f" [{style}]→ {d['summary']}[/{style}] [dim]{d['duration_ms']:.0f} ms[/dim]")
    elif kind == "agent_completed":
        style = "green" if d["status"] == "completed" else "red"
        _err().print(
            f"[{style}]✔ {d['agent']}[/{style}] {d['summary']} "
            f"[dim]({d['duration_ms']:.0f} ms)[/dim]"
        )
    elif kind == "agent_error":
        _err().print(f"[red]✘ {d['agent']}: {d['code']}: {d['message']}[/red]")
    elif kind == "run_completed":
        _err().print(f"[bold green]done in {d['duration_ms'] / 1000:.2f} s[/bold green]\n")
    elif kind == "run_failed":
        _err().print(f"[bold red]run failed: {d['code']}: {d['message']}[/bold red]")


def _err():
    return kit_console.console(stderr=True)


def _error(r: httpx.Response) -> str:
    try:
        e = r.json()["error"]
        return f"{e['code']}: {e['message']}"
    except (ValueError, KeyError, TypeError):
        return r.text[:200]


def _fail(message: str) -> None:
    _err().print(f"[red]{message}[/red]")
    raise typer.Exit(1)
