"""The ``tokenomist`` command. Each domain adds its commands in its own ``cli`` module."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any

import typer
import uvicorn

from tokenomist.kit.console import typer_options
from tokenomist.settings import Settings

app = typer.Typer(
    help="Tokenomist: cut your AI spend, with numbers.", no_args_is_help=True, **typer_options()
)
db_app = typer.Typer(help="SQL schema migrations.", no_args_is_help=True, **typer_options())
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default: settings host)."),
    port: int = typer.Option(None, help="Port (default: settings port)."),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
    demo: bool = typer.Option(False, "--demo", help="Seed a demo org, user and workload."),
    debug: bool = typer.Option(
        False, "--debug", help="Debug logs, and the full traceback of a start-up failure."
    ),
) -> None:
    """Run the API server. A start-up failure prints one line and exits non-zero."""
    # The app factory reads its settings from the environment: flags go there too, so what the
    # app reports (e.g. the demo sign-in URL) matches where it listens.
    if demo:
        os.environ["TOKENOMIST_DEMO"] = "true"
    if host:
        os.environ["TOKENOMIST_HOST"] = host
    if port:
        os.environ["TOKENOMIST_PORT"] = str(port)
    if debug:
        os.environ["TOKENOMIST_LOG_LEVEL"] = "DEBUG"
    from tokenomist.kit.server import DrainingServer, server_options

    settings = Settings()
    options = server_options(settings)
    options["log_level"] = "debug" if settings.log_level.upper() == "DEBUG" else "warning"
    if reload:
        uvicorn.run("tokenomist.app:create_app", factory=True, reload=True, **options)
        return
    from tokenomist.app import create_app, drain

    # The app is built by uvicorn (after it set up its loggers, which create_app adjusts), and
    # kept here for the drain. SIGTERM drains first (app.drain); whatever is still open after
    # it gets a bounded wait.
    built: list[Any] = []

    def factory() -> Any:
        built.append(create_app(settings))
        return built[0]

    config = uvicorn.Config(
        factory,
        factory=True,
        timeout_graceful_shutdown=max(round(settings.drain_delay_s), 5),
        **options,
    )
    server = DrainingServer(config, lambda: drain(built[0].state.resources))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(3)  # start-up failed (uvicorn.run exits 3 here too)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply SQL migrations up to REVISION (default: head)."""
    from tokenomist.kit import db
    from tokenomist.kit.migrations import upgrade

    settings = Settings()

    async def _go() -> None:
        engine = db.build_engine(settings.resolved_database_url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_go())
    except Exception as exc:
        from tokenomist.kit.netdiag import describe

        typer.echo(describe("SQL database", settings.resolved_database_url, exc), err=True)
        sys.exit(1)
    typer.echo(f"database at the {revision} revision")


def _register_domain_commands() -> None:
    # Domains that own CLI commands expose ``register(app)`` in their ``cli`` module.
    import importlib

    for name in DOMAIN_CLIS:
        importlib.import_module(f"tokenomist.{name}.cli").register(app)


DOMAIN_CLIS: list[str] = ["auth", "verify", "usage", "analyst", "interop", "stack"]
_register_domain_commands()
