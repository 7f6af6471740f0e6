"""Input hygiene (kit/hygiene.py): strings the SQL tier cannot store and dates outside
1970-2200 are a 422 naming the field, on every endpoint and WebSocket frame, on SQLite and
PostgreSQL alike (PostgreSQL used to answer 500 for a NUL anywhere)."""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.realtime import connect_ws, recv_json, send_json
from tokenomist import app as app_module
from tokenomist.health import endpoints as health_endpoints
from tokenomist.kit import hygiene
from tokenomist.kit.hygiene import CleanInput, InRangeDatetime
from tokenomist.realtime import protocol

PASSWORD = "correct horse battery"
NUL = "\x00"


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("plain text, quotes ' \" and emoji 🙂", None),
        ("tab\tand newline\n are storable", None),
        (f"a{NUL}b", "NUL"),
        ("lone \ud800 surrogate", "U+D800"),
        ("\udfff", "U+DFFF"),
    ],
)
def test_text_problem_names_what_cannot_be_stored(value, problem):
    found = hygiene.text_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_nested_problem_says_where_it_is():
    class Body(CleanInput):
        tags: list[str]
        labels: dict[str, str]

    with pytest.raises(ValidationError) as caught:
        Body(tags=["ok", f"b{NUL}d"], labels={})
    (err,) = caught.value.errors()
    assert err["loc"] == ("tags",)
    assert err["msg"].startswith("[1]: must not contain a NUL")

    with pytest.raises(ValidationError) as caught:
        Body(tags=[], labels={f"k{NUL}": "v"})
    assert "key" in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), True),
        (datetime(2200, 12, 31, 23, 59, 59), True),  # naive = UTC
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2201, 1, 1, tzinfo=UTC), False),
        (datetime(233, 5, 1, tzinfo=UTC), False),
        # Converting these to UTC would overflow datetime: refused without converting.
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), False),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), False),
    ],
)
def test_dates_outside_1970_to_2200_are_refused(value, ok):
    class Q(BaseModel):
        at: InRangeDatetime

    if ok:
        assert Q(at=value).at.tzinfo is not None
    else:
        with pytest.raises(ValidationError, match="between 1970-01-01 and 2200-12-31"):
            Q(at=value)


def _body_models(annotation: typing.Any) -> list[type]:
    args = typing.get_args(annotation)
    if args:
        return [m for a in args for m in _body_models(a)]
    return [annotation] if isinstance(annotation, type) else []


def test_every_request_body_and_client_frame_is_clean_input():
    """The rule that keeps the layer whole: a new endpoint's body model must be a CleanInput
    (a plain BaseModel or a bare ``str`` body would let a NUL through to PostgreSQL again)."""
    seen = []
    for router in [health_endpoints.router, *app_module._domain_routers()]:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for param in route.dependant.body_params:
                # A lone Body()/Form() string passes when it is a CleanStr.
                checked = any(
                    getattr(m, "func", None) is hygiene.check_text
                    for m in param.field_info.metadata
                )
                for model in _body_models(param.field_info.annotation):
                    if model is type(None) or (model is str and checked):
                        continue
                    seen.append(model.__name__)
                    assert issubclass(model, CleanInput), (route.path, model)
    assert {"LoginIn", "RegisterIn", "RunCreate", "ApiKeyCreate"} <= set(seen)
    for frame in (protocol.UserMessage, protocol.Resume, protocol.Cancel, protocol.Ping):
        assert issubclass(frame, CleanInput)


# --- over HTTP, on both SQL backends -------------------------------------------------------


async def _user(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"hyg-{uuid.uuid4().hex[:10]}@example.com"
    r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email, {"Authorization": f"Bearer {r.json()['access_token']}"}


BODY_CASES = [
    ("POST", "/auth/login", {"email": f"a{NUL}@example.com", "password": "x"}, "email"),
    ("POST", "/auth/login", {"email": "a@example.com", "password": f"p{NUL}"}, "password"),
    (
        "POST",
        "/auth/register",
        {"email": "n@example.com", "password": PASSWORD, "name": f"N{NUL}"},
        "name",
    ),
    ("POST", "/auth/refresh", {"refresh_token": f"x{NUL}"}, "refresh_token"),
    ("POST", "/auth/validate-token-and-get-user", {"token": f"x{NUL}"}, "token"),
    ("POST", "/api/v1/runs", {"message": f"how much{NUL}?"}, "message"),
    ("POST", "/api/v1/runs", {"message": "how much?", "thread_id": f"t{NUL}"}, "thread_id"),
    ("POST", "/api/v1/api-keys", {"name": f"k{NUL}", "scopes": ["read"]}, "name"),
]


async def test_a_nul_in_a_json_body_is_a_422_naming_the_field(server):
    # One server per backend for all cases: each case is its own request and assertion.
    async with httpx.AsyncClient(base_url=server.url) as client:
        _, headers = await _user(client)
        for method, path, body, field in BODY_CASES:
            r = await client.request(method, path, json=body, headers=headers)
            assert r.status_code == 422, (path, field, r.text)
            error = r.json()["error"]
            assert error["code"] == "validation_error"
            assert {"field": field, "message": "must not contain a NUL character (U+0000)"} in (
                error["details"]
            ), (path, error)


async def test_a_lone_surrogate_in_a_json_body_is_a_422(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        _, headers = await _user(client)
        r = await client.post(
            "/api/v1/runs",
            content=b'{"message": "how much \\ud800?"}',
            headers={**headers, "Content-Type": "application/json"},
        )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "message"


PARAM_CASES = [
    ("GET", "/api/v1/runs/x%00", "path.run_id"),
    ("GET", "/api/v1/runs/x%00/events", "path.run_id"),
    ("POST", "/api/v1/runs/x%00/cancel", "path.run_id"),
    ("GET", "/api/v1/threads/x%00/messages", "path.thread_id"),
    ("DELETE", "/api/v1/api-keys/x%00", "path.key_id"),
    ("POST", "/api/v1/usage/import?format=canonical&project=p%00", "query.project"),
    ("GET", "/api/v1/usage/summary?group_by=model&x%00=1", "query.'x\\x00'"),
]


async def test_a_nul_in_a_path_or_query_parameter_is_a_422_naming_it(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        _, headers = await _user(client)
        for method, url, field in PARAM_CASES:
            r = await client.request(method, url, headers=headers, content=b"[]")
            assert r.status_code == 422, (url, r.text)
            error = r.json()["error"]
            assert error["code"] == "validation_error"
            assert error["details"] == [
                {"field": field, "message": "must not contain a NUL character (U+0000)"}
            ], url


async def test_a_summary_date_outside_1970_to_2200_is_a_422(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        _, headers = await _user(client)
        for name in ("from", "to"):
            for value in ("0233-05-01T00:00:00Z", "2201-01-01T00:00:00Z"):
                r = await client.get("/api/v1/usage/summary", params={name: value}, headers=headers)
                assert r.status_code == 422, (name, value, r.text)
                assert r.json()["error"]["details"][0]["field"] == f"query.{name}"


async def test_nothing_with_a_nul_was_stored_and_the_account_still_works(server):
    """The refused requests leave no trace: the same user signs in and lists clean data."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        email, headers = await _user(client)
        refused = await client.post(
            "/api/v1/api-keys", json={"name": f"k{NUL}", "scopes": ["read"]}, headers=headers
        )
        assert refused.status_code == 422
        keys = await client.get("/api/v1/api-keys", headers=headers)
        login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert keys.status_code == 200 and keys.json()["items"] == []
    assert login.status_code == 200, login.text


# --- WebSocket frames, on both SQL backends ------------------------------------------------


FRAME_CASES = [
    ({"type": "user_message", "content": f"hi{NUL}"}, "content"),
    ({"type": "user_message", "content": "hi", "thread_id": f"t{NUL}"}, "thread_id"),
    (
        {"type": "user_message", "content": "hi", "client_message_id": f"c{NUL}"},
        "client_message_id",
    ),
    ({"type": "resume", "run_id": f"r{NUL}", "after_seq": 0}, "run_id"),
    ({"type": "cancel", "run_id": f"r{NUL}"}, "run_id"),
]


async def test_a_nul_in_any_frame_field_is_an_invalid_frame_naming_it(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        _, headers = await _user(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    async with connect_ws(server.url, token) as ws:
        assert (await recv_json(ws))["type"] == "connection_established"
        for frame, field in FRAME_CASES:
            await send_json(ws, frame)
            answer = await recv_json(ws)
            protocol.validate_server_frame(answer)
            assert answer["type"] == "error", (frame, answer)
            assert answer["data"]["code"] == "invalid_frame", answer
            assert f"{frame['type']}: {field}: must not contain a NUL" in answer["data"]["message"]
        await send_json(ws, {"type": "ping"})  # the connection is still usable
        assert (await recv_json(ws))["type"] == "pong"


async def test_a_lone_surrogate_in_a_frame_is_refused_and_the_connection_stays(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        _, headers = await _user(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    async with connect_ws(embedded_server.url, token) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "user_message", "content": "\ud800"}))
        answer = await recv_json(ws)
        assert answer["type"] == "error" and answer["data"]["code"] in (
            "invalid_json",
            "invalid_frame",
        )
        await send_json(ws, {"type": "ping"})
        assert (await recv_json(ws))["type"] == "pong"


async def test_a_nul_in_the_websocket_query_string_refuses_the_handshake(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url) as client:
        _, headers = await _user(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            embedded_server.ws_url + "?x=%00",
            subprotocols=[protocol.SUBPROTOCOL, f"bearer.{token}"],
            open_timeout=30,
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_seq_past_64_bits_is_a_422_not_a_redis_error(make_settings):
    """On the Redis bus a seq becomes a stream id, which Redis refuses past 64 bits; the
    refusal used to surface as a 500 (SSE) or an internal_error frame (WebSocket)."""
    from tests.support.servers import live_server

    huge = 2**70
    async with live_server(make_settings(cache="redis")) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
            _, headers = await _user(client)
            r = await client.post("/api/v1/runs", json={"message": "how much?"}, headers=headers)
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            # Reading the whole event stream waits for the run to finish.
            events = await client.get(f"/api/v1/runs/{run_id}/events", headers=headers)
            assert "event: run_completed" in events.text or "event: run_failed" in events.text
            sse = await client.get(
                f"/api/v1/runs/{run_id}/events",
                headers={**headers, "Last-Event-ID": str(huge)},
            )
        assert sse.status_code == 422, sse.text
        assert sse.json()["error"]["details"][0]["field"] == "Last-Event-ID"
        token = headers["Authorization"].removeprefix("Bearer ")
        async with connect_ws(srv.url, token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": huge})
            answer = await recv_json(ws)
            assert answer["type"] == "error", answer
            assert answer["data"]["code"] == "invalid_frame", answer
            assert answer["data"]["message"].startswith("resume: after_seq: ")
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 0})
            replayed = await recv_json(ws)
            assert replayed["run_id"] == run_id and replayed["seq"] == 1
