"""The alerts API over real HTTP: channels (secret shown once, test sends, Slack format),
budgets (defaults, validation naming the field, PATCH/DELETE, org scoping), the forecast."""

from __future__ import annotations

import pytest

from tests.support.alerts import ingest, records, signed_by, webhook
from tests.support.usage import account, error_code


def _fields(resp) -> set[str]:
    return {d["field"] for d in resp.json()["error"]["details"]}


async def test_webhook_secret_is_shown_once_and_signs_the_test_event(client, user, receiver):
    channel = await webhook(client, user, receiver.url)
    assert channel["secret"].startswith("whsec_") and len(channel["secret"]) > 30
    listed = (await client.get("/api/v1/alert-channels", headers=user)).json()["items"]
    assert [c["id"] for c in listed] == [channel["id"]]
    assert "secret" not in listed[0]

    resp = await client.post(f"/api/v1/alert-channels/{channel['id']}/test", headers=user)
    assert resp.status_code == 200, resp.text
    assert resp.json() | {"event_id": None} == {
        "event_id": None, "delivered": True, "status_code": 200, "error": None,
    }  # fmt: skip
    (got,) = await receiver.wait_for(1)
    assert signed_by(channel["secret"], got)
    assert got.json["type"] == "channel.test"
    assert got.json["id"] == resp.json()["event_id"] == got.headers["x-tokenomist-event-id"]


async def test_a_failed_test_send_is_reported_and_retried(app_server, client, user, receiver):
    receiver.fail_first = 1
    channel = await webhook(client, user, receiver.url)
    resp = await client.post(f"/api/v1/alert-channels/{channel['id']}/test", headers=user)
    assert resp.json()["delivered"] is False
    assert (resp.json()["status_code"], resp.json()["error"]) == (500, "HTTP 500")
    app_server.resources.alerts.poke()  # the retry is due 50 ms later
    got = await receiver.wait_for(2)
    assert got[0].body == got[1].body


async def test_slack_channel_gets_an_incoming_webhook_message(client, user, receiver):
    resp = await client.post(
        "/api/v1/alert-channels", json={"kind": "slack", "url": receiver.url}, headers=user
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["secret"] is None
    await client.post(f"/api/v1/alert-channels/{resp.json()['id']}/test", headers=user)
    (got,) = await receiver.wait_for(1)
    assert set(got.json) == {"text"} and "channel.test" in got.json["text"]
    assert "x-tokenomist-signature" not in got.headers


async def test_channel_input_is_checked_naming_the_field(client, user):
    bad = await client.post(
        "/api/v1/alert-channels", json={"kind": "email", "url": "not a url"}, headers=user
    )
    assert bad.status_code == 422
    assert _fields(bad) == {"kind", "url"}
    missing = await client.post("/api/v1/alert-channels/nope/test", headers=user)
    assert (missing.status_code, error_code(missing)) == (404, "channel_not_found")


async def test_budget_defaults_patch_delete_and_org_scope(client, user, receiver):
    channel = await webhook(client, user, receiver.url)
    unit = await ingest(client, user, records(3, project="web"))
    resp = await client.post(
        "/api/v1/budgets",
        json={"name": "web", "scope": {"project": "web"}, "period": "week", "amount_usd": unit * 5,
              "channel_ids": [channel["id"]]},
        headers=user,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    budget = resp.json()
    assert budget["thresholds"] == [0.5, 0.8, 1.0]
    assert budget["forecast_alert"] is False
    assert budget["spent_usd"] == pytest.approx(unit)
    # 20 % spent, under the first threshold: "ok" unless the forecast, which depends on how
    # much of the week is left at the time the test runs, goes past the amount.
    over = budget["forecast_usd"] > budget["amount_usd"]
    assert budget["status"] == ("forecast_exceeded" if over else "ok")
    assert budget["period_start"] < budget["period_end"]

    patched = await client.patch(
        f"/api/v1/budgets/{budget['id']}", json={"amount_usd": unit / 2}, headers=user
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status"], patched.json()["name"]) == ("exceeded", "web")

    other = await account(client)
    assert (await client.get("/api/v1/budgets", headers=other)).json()["items"] == []
    hidden = await client.get(f"/api/v1/budgets/{budget['id']}", headers=other)
    assert (hidden.status_code, error_code(hidden)) == (404, "budget_not_found")

    assert (await client.delete(f"/api/v1/budgets/{budget['id']}", headers=user)).status_code == 204
    gone = await client.get(f"/api/v1/budgets/{budget['id']}", headers=user)
    assert gone.status_code == 404


async def test_budget_input_is_checked_naming_the_field(client, user):
    bad = await client.post(
        "/api/v1/budgets",
        json={"name": "", "scope": {"team": "x"}, "period": "year", "amount_usd": -1,
              "thresholds": [0, 1.5]},
        headers=user,
    )  # fmt: skip
    assert bad.status_code == 422
    assert _fields(bad) == {"name", "scope.team", "period", "amount_usd", "thresholds"}
    unknown = await client.post(
        "/api/v1/budgets",
        json={"name": "b", "period": "day", "amount_usd": 1, "channel_ids": ["nope"]},
        headers=user,
    )
    assert unknown.status_code == 422
    assert _fields(unknown) == {"channel_ids.0"}


async def test_forecast_answers_for_the_period_and_refuses_unknown_parameters(client, user):
    spent = await ingest(client, user, records(4, project="api"))
    await ingest(client, user, records(2, project="other"))
    resp = await client.get(
        "/api/v1/usage/forecast", params={"period": "month", "project": "api"}, headers=user
    )
    assert resp.status_code == 200, resp.text
    fc = resp.json()
    assert fc["spent_usd"] == pytest.approx(spent)
    assert fc["low_usd"] <= fc["forecast_usd"] <= fc["high_usd"]
    assert fc["low_usd"] >= fc["spent_usd"]
    assert fc["history_days"] == 0 and "widened" in fc["basis"]

    bad = await client.get("/api/v1/usage/forecast", params={"projct": "api"}, headers=user)
    assert (bad.status_code, _fields(bad)) == (422, {"query.projct"})
    bad = await client.get("/api/v1/usage/forecast", params={"period": "year"}, headers=user)
    assert (bad.status_code, _fields(bad)) == (422, {"query.period"})
