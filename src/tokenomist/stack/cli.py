"""``tokenomist stack up|status|roll|down``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tokenomist.kit.console import typer_options
from tokenomist.stack import service

DEFAULT_DIR = Path(".tokenomist/stack")
stack_app = typer.Typer(
    help="N instances behind HAProxy on this machine (see README: Running several instances).",
    no_args_is_help=True,
    **typer_options(),
)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")


def _fail(exc: Exception) -> None:
    typer.echo(f"stack: {exc}", err=True)
    sys.exit(1)


DirOption = typer.Option(DEFAULT_DIR, "--dir", help="Where the stack keeps its state and logs.")


@stack_app.command("up")
def up_command(
    instances: int = typer.Option(2, "--instances", "-n", min=1, help="How many instances."),
    directory: Path = DirOption,
    database_url: str = typer.Option(
        service.DEFAULT_DATABASE_URL, envvar="TOKENOMIST_STACK_DATABASE_URL"
    ),
    redis_url: str = typer.Option(service.DEFAULT_REDIS_URL, envvar="TOKENOMIST_STACK_REDIS_URL"),
    clickhouse_url: str = typer.Option(
        "",
        envvar="TOKENOMIST_STACK_CLICKHOUSE_URL",
        help="A ClickHouse server all instances share; without it each has its own chDB.",
    ),
    build: str = typer.Option(None, help="Command that runs tokenomist (default: this one)."),
    lb_port: int = typer.Option(0, help="Load balancer port (default: a free one)."),
    ready_timeout: float = typer.Option(90.0, help="Seconds each instance may take to be ready."),
) -> None:
    """Start the instances one by one, then HAProxy in front; print the load balancer's URL."""
    try:
        stack = service.up(
            directory,
            instances=instances,
            database_url=database_url,
            redis_url=redis_url,
            clickhouse_url=clickhouse_url,
            build=build,
            lb_port=lb_port,
            ready_timeout_s=ready_timeout,
        )
    except (service.StackError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    for line in service.status(stack):
        typer.echo(line)
    typer.echo(f"stack up: {stack.lb_url}")


@stack_app.command("status")
def status_command(directory: Path = DirOption) -> None:
    """Each instance's process, readiness and HAProxy state."""
    try:
        stack = service.Stack.load(directory.resolve())
    except service.StackError as exc:
        _fail(exc)
    for line in service.status(stack):
        typer.echo(line)


@stack_app.command("roll")
def roll_command(
    directory: Path = DirOption,
    build: str = typer.Option(None, help="Roll every instance to this build (a command)."),
    previous: bool = typer.Option(False, "--previous", help="Roll back to the previous build."),
    ready_timeout: float = typer.Option(90.0, help="Seconds each new instance may take."),
) -> None:
    """Rolling restart: drain, stop and start each instance in turn, never all at once."""
    if build and previous:
        raise typer.BadParameter("--build and --previous exclude each other")
    try:
        stack = service.Stack.load(directory.resolve())
        for line in service.roll(
            stack, build=build, to_previous=previous, ready_timeout_s=ready_timeout
        ):
            typer.echo(line)
    except service.StackError as exc:
        _fail(exc)
    typer.echo(f"rolled: {stack.lb_url} on `{stack.build}`")


@stack_app.command("down")
def down_command(directory: Path = DirOption) -> None:
    """Drain and stop every instance, then HAProxy."""
    try:
        stack = service.Stack.load(directory.resolve())
    except service.StackError as exc:
        _fail(exc)
    for line in service.down(stack):
        typer.echo(line)
