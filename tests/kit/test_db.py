"""The SQL tier on SQLite and PostgreSQL: migrations, and the request-owned transaction."""

from __future__ import annotations

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi import APIRouter
from sqlalchemy import String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from tests.support.servers import LiveServer
from tokenomist.kit import db
from tokenomist.kit.migrations import alembic_config, upgrade


async def test_migrations_reach_head_and_are_repeatable(make_settings, sql_backend, tmp_path):
    settings = make_settings(sql=sql_backend)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.build_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # already at head: nothing to do, no error
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert version == head


class _Probe(db.Base):
    """A throwaway table for the transaction test, created by the test itself."""

    __tablename__ = "test_tx_probe"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)


async def test_request_commits_on_success_and_rolls_back_on_error(make_settings, sql_backend):
    router = APIRouter()

    @router.post("/probe/{name}")
    async def write(name: str, session: db.SessionDep, fail: bool = False) -> dict:
        session.add(_Probe(id=name))
        await session.flush()
        if fail:
            raise RuntimeError("boom after flush")
        return {"ok": True}

    server = LiveServer(make_settings(sql=sql_backend))
    server.app.include_router(router)
    await server.start()
    try:
        async with server.resources.engine.begin() as conn:
            await conn.run_sync(lambda c: _Probe.__table__.create(c, checkfirst=True))
            await conn.execute(_Probe.__table__.delete())
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.post("/probe/kept")).status_code == 200
            with pytest.raises(httpx.HTTPError):
                # The server answers 500 or drops the connection; either way nothing is kept.
                r = await client.post("/probe/lost", params={"fail": "true"})
                r.raise_for_status()
        async with server.resources.sessions() as session:
            names = set((await session.execute(select(_Probe.id))).scalars())
        assert names == {"kept"}
    finally:
        async with server.resources.engine.begin() as conn:
            await conn.run_sync(lambda c: _Probe.__table__.drop(c, checkfirst=True))
        await server.stop()
        db.Base.metadata.remove(_Probe.__table__)
