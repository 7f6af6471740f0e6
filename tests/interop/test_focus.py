"""FOCUS export: checked by the FinOps Foundation's ``focus-validator``; its costs add up to
the usage summary; unpriced calls are never exported as $0."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.analyst import load
from tests.support.interop import Org

ROOT = Path(__file__).resolve().parents[2]
RANGE = {"from": "2026-10-25T00:00:00Z", "to": "2026-11-15T00:00:00Z"}
FAIL_LINE = re.compile(r"^❌ (\S+): FAIL", re.M)
PASS_LINE = re.compile(r"^✅ (\S+): PASS", re.M)


def validator() -> Path:
    """focus-validator needs Python >= 3.12 and numpy < 2, so it lives in its own venv
    (``make focus-validator``); TOKENOMIST_FOCUS_VALIDATOR may name another install."""
    path = Path(
        os.environ.get("TOKENOMIST_FOCUS_VALIDATOR", ROOT / ".venv-focus/bin/focus-validator")
    )
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"focus-validator not installed at {path} (run `make focus-validator`)")
        pytest.skip(f"focus-validator not installed at {path} (run `make focus-validator`)")
    return path


def _or_children(rules_file: Path) -> dict[str, str]:
    """Rule id → the OR composite it is one alternative of (a failing alternative is fine
    when its composite passes: e.g. InvoiceId is null OR not null)."""
    model = json.loads(rules_file.read_text())
    out: dict[str, str] = {}

    def walk(node, owner=None):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and "ValidationCriteria" in value:
                    walk(value["ValidationCriteria"], key)
                else:
                    walk(value, owner)
            if node.get("CheckFunction") == "OR":
                for item in node.get("Items", []):
                    if item.get("CheckFunction") == "CheckModelRule":
                        out[item["ModelRuleId"]] = owner
        elif isinstance(node, list):
            for value in node:
                walk(value, owner)

    walk(model)
    return out


def validate(path: Path, fmt: str) -> str:
    exe = validator()
    site = next(exe.parent.parent.glob("lib/python3*/site-packages"))
    # The validator opens its currency list by a path relative to its package directory.
    result = subprocess.run(
        [
            str(exe),
            "--data-file",
            str(path),
            "--data-format",
            fmt,
            "--validate-version",
            "1.2",
            "--block-download",
        ],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"^Total: \d+ \| Pass: [1-9]\d*", output, re.M), output
    passed = set(PASS_LINE.findall(output))
    alternatives = _or_children(site / "focus_validator/rules/model-1.2.0.1.json")
    real = [r for r in FAIL_LINE.findall(output) if alternatives.get(r) not in passed]
    assert not real, output
    return output


async def _get(org: Org, path: str, **params) -> httpx.Response:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=120) as client:
        return await client.get(
            path, params=params, headers={"Authorization": f"Bearer {org.read_key}"}
        )


async def _with_unpriced(org: Org) -> None:
    from tests.support.analyst import demo_workload

    base = [r for r in demo_workload().records if RANGE["from"][:10] < r["timestamp"][:10]][:5]
    unknown = [
        {**r, "model": "in-house-llm-7b", "request_id": f"unpriced-{i}"} for i, r in enumerate(base)
    ]
    await load(org.server, org.user.org_id, unknown)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_export_passes_the_focus_validator(org: Org, fmt: str, tmp_path: Path) -> None:
    r = await _get(org, "/api/v1/exports/focus", **RANGE, format=fmt)
    assert r.status_code == 200, r.text
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(r.content)
    await asyncio.to_thread(validate, path, fmt)


async def test_costs_add_up_to_the_summary_and_unpriced_is_left_out(org: Org) -> None:
    await _with_unpriced(org)
    r = await _get(org, "/api/v1/exports/focus", **RANGE)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    summary = (await _get(org, "/api/v1/usage/summary", **RANGE)).json()["totals"]
    assert summary["unpriced_requests"] == 5
    assert int(r.headers["X-Tokenomist-Unpriced-Requests"]) == 5
    assert not [row for row in rows if "in-house-llm-7b" in row["SkuId"]]
    billed = sum(float(row["BilledCost"]) for row in rows)
    assert billed == pytest.approx(summary["cost_usd"], rel=1e-9)
    assert all(float(row["BilledCost"]) > 0 for row in rows)
    assert {row["ConsumedUnit"] for row in rows} <= {"Tokens", "Requests"}
    kinds = {row["SkuId"].rsplit("/", 1)[1] for row in rows}
    assert {"input", "output", "cached-input"} <= kinds
    tags = json.loads(rows[0]["Tags"])
    assert "project" in tags and rows[0]["ServiceCategory"] == "AI and Machine Learning"


async def test_a_range_of_centuries_exports_what_its_data_holds(org: Org) -> None:
    """A 1970-2200 range is walked over the days with data only (it used to be 12,000 weekly
    queries, long enough for a client to hold the request), and gives the same rows as the
    data's own range; a date outside 1970-2200 is a 422 naming it."""
    wide = await _get(org, "/api/v1/exports/focus", **{"from": "1970-01-01", "to": "2200-01-01"})
    assert wide.status_code == 200, wide.text
    whole = (await _get(org, "/api/v1/usage/summary")).json()["totals"]
    billed = sum(float(row["BilledCost"]) for row in csv.DictReader(io.StringIO(wide.text)))
    assert billed == pytest.approx(whole["cost_usd"], rel=1e-9)
    bad = await _get(org, "/api/v1/exports/focus", **{"from": "0233-05-01", "to": "2026-01-01"})
    assert bad.status_code == 422 and "from" in bad.text


async def test_export_is_org_scoped_and_needs_read(org: Org) -> None:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=60) as client:
        other = await client.get(
            "/api/v1/exports/focus",
            params=RANGE,
            headers={"Authorization": f"Bearer {org.other_read_key}"},
        )
        ingest = await client.get(
            "/api/v1/exports/focus",
            params=RANGE,
            headers={"Authorization": f"Bearer {org.ingest_key}"},
        )
        bad = await client.get(
            "/api/v1/exports/focus",
            params={"from": RANGE["to"], "to": RANGE["from"]},
            headers={"Authorization": f"Bearer {org.read_key}"},
        )
    assert other.status_code == 200 and len(other.text.strip().splitlines()) == 1  # header only
    assert ingest.status_code == 403
    assert bad.status_code == 422 and "from" in bad.text


async def test_cli_writes_the_export_and_reports_unpriced(org: Org, tmp_path: Path) -> None:
    await _with_unpriced(org)
    out = tmp_path / "focus.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "tokenomist",
            "export",
            "focus",
            "--from",
            RANGE["from"][:10],
            "--to",
            RANGE["to"][:10],
            "-o",
            str(out),
            "--url",
            org.server.url,
            "--api-key",
            org.read_key,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left out 5 unpriced requests" in result.stdout
    r = await _get(org, "/api/v1/exports/focus", **RANGE)
    assert out.read_text() == r.text


def test_the_validator_gate_catches_a_broken_export(tmp_path: Path) -> None:
    """The gate above can fail: a marketplace-style row (issuer != provider) with a non-zero
    BilledCost, and a row with no BillingCurrency, are FOCUS violations."""
    from tokenomist.interop import focus
    from tokenomist.usage.pricing import Pricer

    group = {
        "day": "2026-11-02",
        "provider": "openai",
        "model": "gpt-4o",
        "service_tier": "standard",
        "project": "chat",
        "feature": "",
        "end_user": "",
        "requests": 3,
        "uncached_input": 1000,
        "cached_input": 0,
        "cache_write": 0,
        "output": 200,
        "reasoning": 0,
        "billed_usd": 0.01,
    }
    rows = list(focus._rows_of("org", group, Pricer()))
    validate_ok = tmp_path / "ok.csv"
    validate_ok.write_bytes(focus._csv_text(rows, header=True))
    validate(validate_ok, "csv")
    rows[0]["InvoiceIssuerName"] = "Some Marketplace"
    rows[1]["BillingCurrency"] = None
    broken = tmp_path / "broken.csv"
    broken.write_bytes(focus._csv_text(rows, header=True))
    with pytest.raises(AssertionError, match=r"BilledCost|BillingCurrency"):
        validate(broken, "csv")
