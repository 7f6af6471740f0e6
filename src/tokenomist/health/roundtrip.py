"""One round trip to a dependency, timed apart from getting a connection.

A health check that times pool checkout, pre-ping, BEGIN, prepare, execute and ROLLBACK
reports about six round trips as "latency": a database 0.7 s away then reads as down. Here
the connection is obtained first (its own step), and only one simple-protocol query is timed.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncEngine


class NoConnection(TimeoutError):
    """Getting a connection (checkout, pre-ping, connect) exceeded its own bound."""


async def database_round_trip(engine: AsyncEngine, *, setup_s: float, bound_s: float) -> float:
    """Milliseconds of one ``SELECT 1`` on an already open connection. Getting the connection
    is bounded by ``setup_s``; the round trip itself by ``bound_s`` (the "down" bound)."""
    try:  # checkout, pre-ping or a new connection
        conn = await asyncio.wait_for(engine.connect().start(), setup_s)
    except TimeoutError as exc:
        raise NoConnection(f"no connection within {setup_s:g}s") from exc
    try:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        start = time.perf_counter()
        async with asyncio.timeout(bound_s):
            if engine.dialect.name == "postgresql":
                # asyncpg's execute without arguments is the simple query protocol: one round
                # trip, and SQLAlchemy opens no transaction for it (nothing to roll back).
                await driver.execute("SELECT 1")  # type: ignore[union-attr]
            else:
                cursor = await driver.execute("SELECT 1")  # type: ignore[union-attr]
                await cursor.close()
        return (time.perf_counter() - start) * 1000
    finally:
        await conn.close()
