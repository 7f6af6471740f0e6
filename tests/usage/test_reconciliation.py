"""The reconciliation view over real HTTP on both SQL backends: producer-reported cost beside
ours per model and per day, the likely cause of each difference, org isolation and the 422s;
and every rule of the cause table on its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.usage import FIXTURES, account, api_key, error_code
from tokenomist.usage.reconciliation import RULES, Facts, likely_cause

MTOK = 1_000_000


def rec(rid: str, ts: str, model: str = "gpt-4o-mini", **kw) -> dict:
    base = {"request_id": rid, "timestamp": ts, "provider": "openai", "model": model,
            "input_tokens": MTOK, "output_tokens": 0}  # fmt: skip
    return {**base, **kw}


# gpt-4o-mini: $0.15 per 1M input; gpt-4o: $2.50 per 1M input, $1.25 per 1M cached.
RECORDS = [
    rec("agree-1", "2026-10-01T09:00:00Z", cost_usd=0.15),
    rec("agree-2", "2026-10-01T10:00:00Z", cost_usd=0.1505),  # 0.33 % off: still agrees
    rec("silent", "2026-10-01T11:00:00Z"),  # no reported cost: counted, not compared
    # every input token cached: we price 1.25, the producer billed them at the full 2.50
    rec("cached", "2026-10-02T09:00:00Z", "gpt-4o", cached_input_tokens=MTOK, cost_usd=2.5),
    rec("unknown", "2026-10-02T10:00:00Z", "brainiac-9000", provider="acme", cost_usd=0.5),
    rec("free", "2026-10-03T09:00:00Z", "gpt-4.1", cost_usd=0.0),
]


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture
async def user(client) -> dict[str, str]:
    headers = await account(client)
    body = "\n".join(json.dumps(r) for r in RECORDS).encode()
    resp = await client.post("/api/v1/usage", content=body, headers=headers)
    assert resp.json()["accepted"] == len(RECORDS), resp.text
    return headers


async def _get(client, user, **params) -> dict:
    resp = await client.get("/api/v1/usage/reconciliation", params=params, headers=user)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_by_model_compares_reported_rows_and_names_the_cause(client, user):
    body = await _get(client, user, group_by="model")
    assert (body["group_by"], body["from"], body["to"]) == ("model", None, None)
    items = {i["key"]: i for i in body["items"]}
    assert set(items) == {"gpt-4o-mini", "gpt-4o", "brainiac-9000", "gpt-4.1"}
    mini = items["gpt-4o-mini"]
    assert (mini["requests"], mini["reported_requests"], mini["unpriced_requests"]) == (3, 2, 0)
    # ours over the two reported rows only, not the silent one
    assert mini["computed_usd"] == pytest.approx(0.30)
    assert mini["reported_usd"] == pytest.approx(0.3005)
    assert mini["difference_usd"] == pytest.approx(0.0005)
    assert mini["difference_pct"] == pytest.approx(0.1667, abs=1e-3)
    assert mini["likely_cause"] == "agree"
    cached = items["gpt-4o"]
    assert (cached["computed_usd"], cached["reported_usd"]) == (pytest.approx(1.25), 2.5)
    assert cached["difference_usd"] == pytest.approx(1.25)
    assert cached["difference_pct"] == pytest.approx(100.0)
    assert cached["likely_cause"] == (
        "cached tokens billed at the full input rate by the producer (or by us)"
    )
    unknown = items["brainiac-9000"]
    assert (unknown["unpriced_requests"], unknown["computed_usd"]) == (1, None)
    assert (unknown["reported_usd"], unknown["difference_usd"]) == (0.5, None)
    assert unknown["likely_cause"] == "model not in the price data"
    free = items["gpt-4.1"]
    assert free["reported_usd"] == 0.0 and free["computed_usd"] > 0
    assert free["difference_usd"] == pytest.approx(-free["computed_usd"])
    assert free["difference_pct"] == pytest.approx(-100.0)
    assert free["likely_cause"] == "producer reports no cost"
    totals = body["totals"]
    assert (totals["requests"], totals["reported_requests"], totals["unpriced_requests"]) == (
        6, 5, 1,
    )  # fmt: skip
    assert totals["reported_usd"] == pytest.approx(0.3005 + 2.5 + 0.5)
    assert totals["computed_usd"] == pytest.approx(0.30 + 1.25 + free["computed_usd"])
    assert totals["likely_cause"] == "model not in the price data"


async def test_by_day_in_time_order_within_the_window(client, user):
    body = await _get(client, user, group_by="day")
    assert [i["key"] for i in body["items"]] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    first, second, third = body["items"]
    assert (first["requests"], first["reported_requests"], first["likely_cause"]) == (
        3, 2, "agree",
    )  # fmt: skip
    # the cached gpt-4o row is priced, the unknown model is not: ours covers the priced one
    assert (second["computed_usd"], second["reported_usd"]) == (pytest.approx(1.25), 3.0)
    assert second["likely_cause"] == "model not in the price data"
    assert third["likely_cause"] == "producer reports no cost"
    window = await _get(
        client, user, group_by="day", **{"from": "2026-10-02T00:00:00Z", "to": "2026-10-03"}
    )
    assert window["from"] == "2026-10-02T00:00:00Z"
    assert [i["key"] for i in window["items"]] == ["2026-10-02"]
    assert window["totals"]["requests"] == 2
    mini = await _get(client, user, group_by="day", model="gpt-4o-mini")
    assert [i["key"] for i in mini["items"]] == ["2026-10-01"]


async def test_litellm_spend_is_the_reported_cost(client):
    headers = await account(client)
    resp = await client.post(
        "/api/v1/usage/import", params={"format": "litellm"},
        content=(FIXTURES / "litellm.json").read_bytes(), headers=headers,
    )  # fmt: skip
    assert resp.json()["accepted"] == 3, resp.text
    body = await _get(client, headers, group_by="model")
    assert body["totals"]["reported_requests"] == 3
    assert body["totals"]["reported_usd"] > 0


async def test_another_org_sees_nothing_and_a_read_key_is_enough(client, user):
    stranger = await account(client)
    body = await _get(client, stranger)
    assert body["items"] == []
    assert body["totals"]["requests"] == 0
    assert body["totals"]["reported_usd"] is None
    assert body["totals"]["likely_cause"] == "no reported cost to compare"
    read_key = await api_key(client, user, ["read"])
    body = await _get(client, {"X-API-Key": read_key})
    assert body["totals"]["requests"] == len(RECORDS)
    ingest_key = await api_key(client, user, ["ingest"])
    resp = await client.get("/api/v1/usage/reconciliation", headers={"X-API-Key": ingest_key})
    assert (resp.status_code, error_code(resp)) == (403, "insufficient_scope")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "project"}, "query.group_by"),
        ({"from": "2026-10-03T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "query.from"),
        ({"from": "yesterday"}, "query.from"),
        ({"to": "2026-13-01"}, "query.to"),
        ({"from": "1969-12-31T23:59:59Z"}, "query.from"),
        ({"groupby": "day"}, "query.groupby"),
    ],
)
async def test_bad_parameters_are_a_422_naming_them(client, user, params, field):
    resp = await client.get("/api/v1/usage/reconciliation", params=params, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "validation_error"), resp.text
    assert field in [d["field"] for d in resp.json()["error"]["details"]]


# -- the cause table, rule by rule (no HTTP) -------------------------------------------------


def facts(**kw) -> Facts:
    base = {"reported_requests": 10, "reported_unpriced": 0, "computed_usd": 1.0,
            "reported_usd": 1.0, "cached_input_tokens": 0, "batch_requests": 0}  # fmt: skip
    return Facts(**{**base, **kw})


CASES = {
    "not_reported": facts(reported_requests=0, computed_usd=0.0, reported_usd=0.0),
    "unpriced": facts(reported_unpriced=10, computed_usd=0.0, reported_usd=0.4),
    "reported_zero": facts(reported_usd=0.0),
    "agree": facts(reported_usd=1.009),
    "batch": facts(reported_usd=0.5, batch_requests=10),
    "cached_full_rate": facts(reported_usd=2.04, cached_input_tokens=5000),
    "prices_differ": facts(reported_usd=1.3),
}


@pytest.mark.parametrize("code", list(CASES))
def test_each_rule_names_its_cause(code):
    assert likely_cause(CASES[code]).code == code


def test_every_rule_has_a_case_and_the_last_matches_anything():
    assert [r.code for r in RULES] == list(CASES)
    assert all(RULES[-1].matches(f) for f in CASES.values())


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"reported_usd": 0.5}, "prices_differ"),  # half, but no batch rows
        ({"reported_usd": 2.0}, "prices_differ"),  # double, but no cached tokens
        ({"reported_usd": 2.5, "cached_input_tokens": 10}, "prices_differ"),  # not ≈ 2
        ({"reported_usd": 0.0, "computed_usd": 0.0}, "agree"),  # both free
        ({"reported_usd": 0.2, "computed_usd": 0.0}, "prices_differ"),  # no ratio
        ({"reported_unpriced": 2, "reported_usd": 1.0}, "unpriced"),  # partly unpriced
    ],
)
def test_a_rule_needs_all_of_its_conditions(kw, code):
    assert likely_cause(facts(**kw)).code == code


def test_the_readme_lists_the_cause_table_as_the_code_has_it():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    cells = [
        [c.strip().strip("`") for c in re.split(r"(?<!\\)\|", line)]
        for line in readme.splitlines()
        if line.startswith("| `")
    ]
    table = {c[1]: c[3] for c in cells if len(c) > 3}
    assert {r.code: table.get(r.code) for r in RULES} == {r.code: r.cause for r in RULES}
