"""Run the Alembic migrations (shipped inside the package) on an engine or a URL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    cfg = alembic_config()
    async with engine.begin() as conn:

        def _run(sync_conn) -> None:
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, revision)

        await conn.run_sync(_run)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    cfg = alembic_config()
    async with engine.begin() as conn:

        def _run(sync_conn) -> None:
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, revision)

        await conn.run_sync(_run)


@dataclass(frozen=True)
class SchemaState:
    """The Alembic revision the code needs (head) and the one the database is at (None: no
    ``alembic_version`` table, i.e. never migrated)."""

    current: str | None
    head: str

    @property
    def migrated(self) -> bool:
        return self.current == self.head

    def problem(self) -> str | None:
        """One line for an operator, or None when the database is at the code's head."""
        if self.migrated:
            return None
        at = self.current or "no revision"
        return (
            f"database not migrated (at {at}, code needs {self.head}); run `tokenomist db upgrade`"
        )


@lru_cache(maxsize=1)
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # a package without migrations cannot serve
        raise RuntimeError(f"no Alembic head in {MIGRATIONS_DIR}")
    return head


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as conn:

        def _current(sync_conn) -> str | None:
            return MigrationContext.configure(sync_conn).get_current_revision()

        current = await conn.run_sync(_current)
    return SchemaState(current, head_revision())
