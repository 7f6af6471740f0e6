"""The dashboard reads over real HTTP on the embedded tiers: summary filters and group_by pairs,
unknown parameters and out-of-range dates refused, the zero-filled series with top N + other,
and the models seen."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.usage import account, error_code


def rec(rid: str, ts: str, **kw) -> dict:
    base = {
        "request_id": rid, "timestamp": ts, "provider": "openai", "model": "gpt-4o-mini",
        "input_tokens": 1000, "output_tokens": 100, "project": "alpha", "feature": "chat",
        "end_user": "u1",
    }  # fmt: skip
    return {**base, **kw}


# Three days, one of them (10-02) empty; projects alpha/beta/gamma; one unpriced model.
RECORDS = [
    rec("r1", "2026-10-01T10:00:00Z"),
    rec("r2", "2026-10-01T11:30:00Z", project="beta", model="gpt-4o", input_tokens=5000),
    rec("r3", "2026-10-03T09:00:00Z", project="beta", feature="search", end_user="u2"),
    rec("r4", "2026-10-03T12:00:00Z", project="gamma", provider="acme", model="brainiac-9000"),
    rec("r5", "2026-10-03T13:00:00Z", project="alpha", feature="search", output_tokens=900),
]


@pytest.fixture
async def client(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=60) as c:
        yield c


@pytest.fixture
async def user(client) -> dict[str, str]:
    headers = await account(client)
    body = "\n".join(json.dumps(r) for r in RECORDS).encode()
    resp = await client.post("/api/v1/usage", content=body, headers=headers)
    assert resp.json()["accepted"] == len(RECORDS), resp.text
    return headers


async def _get(client, path, user, **params):
    resp = await client.get(path, params=params, headers=user)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_summary_filters_are_exact_repeatable_and_change_totals(client, user):
    everything = await _get(client, "/api/v1/usage/summary", user)
    alpha = await _get(client, "/api/v1/usage/summary", user, project="alpha")
    assert (everything["totals"]["requests"], alpha["totals"]["requests"]) == (5, 2)
    assert alpha["totals"]["output_tokens"] == 100 + 900
    both = await _get(client, "/api/v1/usage/summary", user, project=["alpha", "gamma"])
    assert both["totals"]["requests"] == 3
    assert both["totals"]["unpriced_requests"] == 1
    # filters combine with AND across dimensions
    combo = await _get(
        client, "/api/v1/usage/summary", user, project="beta", feature="search", end_user="u2"
    )
    assert combo["totals"]["requests"] == 1
    assert (await _get(client, "/api/v1/usage/summary", user, project="alph"))["totals"][
        "requests"
    ] == 0  # exact match, not a prefix
    by_model = await _get(client, "/api/v1/usage/summary", user, model="gpt-4o", group_by="project")
    assert [(g["key"], g["requests"]) for g in by_model["groups"]] == [("beta", 1)]
    unpriced = await _get(client, "/api/v1/usage/summary", user, provider="acme")
    assert unpriced["totals"]["cost_usd"] is None


async def test_summary_two_group_bys_give_list_keys_that_add_up(client, user):
    body = await _get(client, "/api/v1/usage/summary", user, group_by=["day", "project"])
    assert body["group_by"] == ["day", "project"]
    keys = [g["key"] for g in body["groups"]]
    assert keys[:2] == [["2026-10-01", "beta"], ["2026-10-01", "alpha"]]  # time first, then $
    assert sorted(map(tuple, keys)) == [
        ("2026-10-01", "alpha"), ("2026-10-01", "beta"), ("2026-10-03", "alpha"),
        ("2026-10-03", "beta"), ("2026-10-03", "gamma"),
    ]  # fmt: skip
    assert all("unpriced_requests" in g for g in body["groups"])
    total = sum(g["cost_usd"] or 0 for g in body["groups"])
    assert total == pytest.approx(body["totals"]["cost_usd"])
    gamma = next(g for g in body["groups"] if g["key"][1] == "gamma")
    assert (gamma["cost_usd"], gamma["unpriced_requests"]) == (None, 1)


async def test_summary_time_group_bys(client, user):
    hours = await _get(client, "/api/v1/usage/summary", user, group_by="hour")
    assert [g["key"] for g in hours["groups"]][:2] == [
        "2026-10-01T10:00:00Z",
        "2026-10-01T11:00:00Z",
    ]
    weeks = await _get(client, "/api/v1/usage/summary", user, group_by="week")
    assert [(g["key"], g["requests"]) for g in weeks["groups"]] == [("2026-09-28", 5)]
    months = await _get(client, "/api/v1/usage/summary", user, group_by="month")
    assert [g["key"] for g in months["groups"]] == ["2026-10"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"projects": "alpha"}, "query.projects"),  # a misspelt filter is never ignored
        ({"group_by": "day", "colour": "red"}, "query.colour"),
        ({"from": "0233-05-01T08:09:13Z"}, "query.from"),
        ({"to": "2201-01-01T00:00:00Z"}, "query.to"),
        ({"from": "1969-12-31T23:59:59Z"}, "query.from"),
        ({"group_by": ["day", "model", "project"]}, "query.group_by"),
        ({"group_by": ["day", "day"]}, "query.group_by"),
    ],
)
async def test_summary_refuses_what_it_cannot_answer_naming_the_parameter(
    client, user, params, field
):
    resp = await client.get("/api/v1/usage/summary", params=params, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "validation_error"), resp.text
    assert field in [d["field"] for d in resp.json()["error"]["details"]]


async def test_series_zero_fills_buckets_and_folds_the_rest_into_other(client, user):
    body = await _get(
        client, "/api/v1/usage/series", user, interval="day", group_by="project", top=1,
        **{"from": "2026-10-01T00:00:00Z", "to": "2026-10-04T00:00:00Z"},
    )  # fmt: skip
    assert body["interval"] == "day"
    # beta spends most (the gpt-4o call), alone on top; alpha and gamma are other
    assert [s["key"] for s in body["series"]] == ["beta"]
    days = ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "2026-10-03T00:00:00Z"]
    beta = body["series"][0]["points"]
    other = body["other"]["points"]
    assert [p["t"] for p in beta] == days == [p["t"] for p in other]
    assert [p["requests"] for p in beta] == [1, 0, 1]
    assert [p["requests"] for p in other] == [1, 0, 2]
    assert beta[1] == {
        "t": days[1], "cost_usd": 0.0, "requests": 0, "input_tokens": 0, "output_tokens": 0,
        "unpriced_requests": 0,
    }  # fmt: skip
    assert other[2]["unpriced_requests"] == 1
    summary = await _get(client, "/api/v1/usage/summary", user)
    spent = sum(p["cost_usd"] for line in [beta, other] for p in line)
    assert spent == pytest.approx(summary["totals"]["cost_usd"])


async def test_series_top_keys_filters_and_window_from_the_data(client, user):
    body = await _get(client, "/api/v1/usage/series", user, interval="hour", group_by="feature",
                      top=5, project="alpha")  # fmt: skip
    # without from/to the window is the matching data's first to last bucket
    points = body["series"][0]["points"]
    assert (points[0]["t"], points[-1]["t"]) == ("2026-10-01T10:00:00Z", "2026-10-03T13:00:00Z")
    assert len(points) == 2 * 24 + 3 + 1
    assert sorted(s["key"] for s in body["series"]) == ["chat", "search"]
    assert all(p["requests"] == 0 for p in body["other"]["points"])
    week = await _get(client, "/api/v1/usage/series", user, interval="week")
    assert [(p["t"], p["requests"]) for p in week["series"][0]["points"]] == [
        ("2026-09-28T00:00:00Z", 5)
    ]
    assert week["series"][0]["key"] is None
    resp = await client.get("/api/v1/usage/series", params={"intervall": "day"}, headers=user)
    assert resp.status_code == 422 and "intervall" in resp.json()["error"]["message"]
    resp = await client.get("/api/v1/usage/series", params={"interval": "minute"}, headers=user)
    assert resp.status_code == 422


async def test_series_refuses_too_many_buckets(client, user):
    resp = await client.get(
        "/api/v1/usage/series",
        params={"interval": "hour", "from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=user,
    )
    assert (resp.status_code, resp.json()["error"]["details"][0]["field"]) == (422, "interval")


async def test_models_lists_each_model_priced_or_not(client, user):
    body = await _get(client, "/api/v1/usage/models", user)
    seen = {(m["provider"], m["model"]): m for m in body["models"]}
    assert set(seen) == {("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("acme", "brainiac-9000")}
    assert seen[("acme", "brainiac-9000")]["priced"] is False
    assert seen[("acme", "brainiac-9000")]["cost_usd"] is None
    assert seen[("openai", "gpt-4o-mini")] | {"cost_usd": None} == {
        "provider": "openai", "model": "gpt-4o-mini", "requests": 3, "input_tokens": 3000,
        "cached_input_tokens": 0, "output_tokens": 1100, "cost_usd": None,
        "unpriced_requests": 0, "priced": True, "first_seen": "2026-10-01T10:00:00Z",
        "last_seen": "2026-10-03T13:00:00Z",
    }  # fmt: skip
    assert body["models"][-1]["model"] == "brainiac-9000"  # unpriced last
    window = await _get(client, "/api/v1/usage/models", user,
                        **{"from": "2026-10-03T00:00:00Z"})  # fmt: skip
    assert {m["model"] for m in window["models"]} == {"gpt-4o-mini", "brainiac-9000"}
    beta = await _get(client, "/api/v1/usage/models", user, project="beta")
    assert {(m["model"], m["requests"]) for m in beta["models"]} == {
        ("gpt-4o", 1),
        ("gpt-4o-mini", 1),
    }


async def test_dashboard_reads_are_org_scoped(client, user):
    stranger = await account(client)
    assert (await _get(client, "/api/v1/usage/models", stranger))["models"] == []
    series = await _get(client, "/api/v1/usage/series", stranger, group_by="model")
    assert series["series"] == [] and series["other"]["points"] == []
    summary = await _get(client, "/api/v1/usage/summary", stranger, project="alpha")
    assert summary["totals"]["requests"] == 0
