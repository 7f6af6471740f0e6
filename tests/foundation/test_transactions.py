"""kit.db's transaction rule, enforced: only the request dependency and ``db.transaction``
commit. A service that commits in the middle of a request would make half of a failing
request durable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

import tokenomist
from tokenomist.kit import db

ROOT = Path(tokenomist.__file__).parent
COMMIT = re.compile(r"\.commit\(\)")


def test_nothing_outside_kit_db_commits() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(ROOT.rglob("*.py"))
        if path != ROOT / "kit" / "db.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COMMIT.search(line)
    ]
    assert offenders == []


async def _count(sessions) -> int:
    async with sessions() as session:
        return (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()


async def test_transaction_commits_on_success_and_rolls_back_on_error(tmp_path: Path) -> None:
    engine = db.build_engine(f"sqlite+aiosqlite:///{tmp_path / 'tx.db'}")
    sessions = db.session_factory(engine)
    try:
        async with db.transaction(sessions) as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError):
            async with db.transaction(sessions) as session:
                await session.execute(text("INSERT INTO t VALUES (2)"))
                raise RuntimeError("half-done work")
        assert await _count(sessions) == 1
    finally:
        await engine.dispose()
