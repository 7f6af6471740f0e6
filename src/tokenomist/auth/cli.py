"""``tokenomist users ...``: operator commands on the configured SQL database (e.g. a staging
test user when sign-up is disabled)."""

from __future__ import annotations

import asyncio
import sys

import typer

from tokenomist.kit.console import typer_options
from tokenomist.settings import Settings


def register(app: typer.Typer) -> None:
    users_app = typer.Typer(help="User accounts.", no_args_is_help=True, **typer_options())
    users_app.command("create")(create_user)
    app.add_typer(users_app, name="users")


def create_user(
    email: str = typer.Option(..., "--email", help="Login email of the new user."),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="TOKENOMIST_USER_PASSWORD",
        help="Password (≥ 10 characters, not the email). Prompted for when omitted.",
    ),
    org: str | None = typer.Option(
        None, "--org", help="Join the org of this name as member (or found it as owner)."
    ),
    name: str | None = typer.Option(None, "--name", help="Display name."),
) -> None:
    """Create a user (idempotent: an existing user is left unchanged). Applies the SQL
    migrations first."""
    from tokenomist.auth.schemas import checked_email
    from tokenomist.kit.errors import TokenomistError
    from tokenomist.kit.netdiag import describe

    try:
        email = checked_email(email)
    except ValueError as exc:
        typer.echo(f"--email: {exc}", err=True)
        sys.exit(2)
    settings = Settings()
    try:
        created, user, (org_id, org_name) = asyncio.run(
            _create(settings, email, password, org, name)
        )
    except TokenomistError as exc:
        typer.echo(f"refused: {exc.message}", err=True)
        sys.exit(2)
    except Exception as exc:
        typer.echo(describe("SQL database", settings.resolved_database_url, exc), err=True)
        sys.exit(1)
    verb = "created" if created else "already exists (left unchanged)"
    typer.echo(f"user {user} {verb} in org {org_name!r} (org id {org_id})")


async def _create(
    settings: Settings, email: str, password: str, org_name: str | None, name: str | None
) -> tuple[bool, str, tuple[str, str]]:
    from tokenomist.auth import repository, service
    from tokenomist.kit import db
    from tokenomist.kit.migrations import upgrade

    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.build_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            existed = await repository.get_user_by_email(session, email) is not None
            user, org = await service.ensure_user(
                session, email=email, password=password, org_name=org_name, name=name
            )
            result = (not existed, f"{user.email} ({user.role})", (org.id, org.name))
        return result
    finally:
        await engine.dispose()
