"""Two `tokenomist serve` processes sharing PostgreSQL, each with its own analytics dir, take
the same batch at the same moment: it is counted once across them. The analytics tiers are
deliberately not shared here, so only the shared SQL claim can make the count right (each
process's own duplicate look-up sees nothing of the other's rows)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.env import TEST_JWT_SECRET
from tests.support.realtime import register
from tests.support.servers import server_process

ROUNDS = 3
BATCH = 400


def _records(tag: str) -> list[dict]:
    out = []
    for i in range(BATCH):
        record = {
            "timestamp": f"2026-10-01T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "provider": "openai", "model": "gpt-4o", "input_tokens": 100 + i,
            "output_tokens": 10, "project": tag,
        }  # fmt: skip
        if i % 4:  # a quarter without an id: the content-derived id must claim the same way
            record["request_id"] = f"{tag}-{i}"
        out.append(record)
    return out


@pytest.mark.slow
async def test_two_instances_taking_the_same_batch_at_once_count_it_once(tmp_path, pg_url):
    env = {"TOKENOMIST_DATABASE_URL": pg_url, "TOKENOMIST_JWT_SECRET": TEST_JWT_SECRET}
    with (
        server_process(env, tmp_path / "a") as a,
        server_process(env, tmp_path / "b") as b,
    ):
        user = await register(a.url)
        headers = {"Authorization": f"Bearer {user.access_token}"}
        async with (
            httpx.AsyncClient(base_url=a.url, headers=headers, timeout=120) as ca,
            httpx.AsyncClient(base_url=b.url, headers=headers, timeout=120) as cb,
        ):
            accepted = {"a": 0, "b": 0}
            for _ in range(ROUNDS):
                batch = _records(uuid.uuid4().hex[:8])
                ra, rb = await asyncio.gather(
                    ca.post("/api/v1/usage", json=batch), cb.post("/api/v1/usage", json=batch)
                )
                assert ra.status_code == 200, ra.text
                assert rb.status_code == 200, rb.text
                ja, jb = ra.json(), rb.json()
                assert ja["accepted"] + jb["accepted"] == BATCH, (ja, jb)
                assert ja["duplicates"] + jb["duplicates"] == BATCH, (ja, jb)
                accepted["a"] += ja["accepted"]
                accepted["b"] += jb["accepted"]
            # A retry of the last batch on either instance lands nothing.
            again = await cb.post("/api/v1/usage", json=batch)
            assert again.json()["accepted"] == 0
            assert again.json()["duplicates"] == BATCH

            # What each instance stored adds up to every call exactly once.
            totals = []
            for client in (ca, cb):
                r = await client.get("/api/v1/usage/summary")
                assert r.status_code == 200, r.text
                totals.append(r.json()["totals"]["requests"])
    assert sum(totals) == ROUNDS * BATCH
    assert totals == [accepted["a"], accepted["b"]]
