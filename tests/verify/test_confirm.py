"""The confirm probes the verifier runs itself, against real local servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.verify import options
from tests.verify.test_probes import _fake_target
from tokenomist.verify import confirm, service


@pytest.mark.parametrize("body", [["database"], "Bad gateway", 42])
async def test_health_recheck_of_a_json_body_that_is_not_an_object_is_a_failed_probe(
    body: object,
) -> None:
    server = await _fake_target(body, 502)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        result = await confirm.health_recheck(url, "target")
    finally:
        server.close()
    assert (result.probe, result.ok) == ("health_recheck", False)
    assert result.detail.startswith("502 ")


async def test_an_edge_answering_json_that_is_not_health_is_diagnosed_not_a_crash(
    tmp_path: Path,
) -> None:
    server = await _fake_target(["not", "health"], 502)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        doc = await service.verify(options(url, tmp_path))
    finally:
        server.close()
    assert doc["decision"] == "inconclusive"
    [finding] = doc["findings"]
    assert finding["affected"] == ["health.ready"]
    assert finding["whys"][2]["evidence"].startswith(f"probe health_recheck({url})")


async def test_health_recheck_of_checks_that_are_not_an_object_reports_the_status() -> None:
    server = await _fake_target({"status": "healthy", "checks": ["database"]}, 200)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        result = await confirm.health_recheck(url, "database")
    finally:
        server.close()
    assert (result.ok, result.detail) == (True, "200 status=healthy")
