"""Org API keys over real HTTP on both SQL backends: created once-visible and stored hashed,
usable as Bearer or X-API-Key, confined to their org, limited by their scopes.

``require_scope`` is exercised through a small probe router mounted only in these tests, so
the scope rules are tested on their own (the ingestion endpoints test their use of them)."""

from __future__ import annotations

import hashlib
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import select

from tests.auth.support import PASSWORD, bearer, error_code, register, unique_email
from tests.support.servers import LiveServer
from tokenomist.auth import service
from tokenomist.auth.dependencies import OrgScope, Principal, require_scope
from tokenomist.auth.models import ApiKey

probe = APIRouter(prefix="/_probe")


def _describe(principal: Principal) -> dict:
    return {
        "org_id": principal.org_id,
        "kind": principal.kind,
        "user_id": principal.user_id,
        "scopes": sorted(principal.scopes),
    }


@probe.get("/whoami")
async def whoami(principal: OrgScope) -> dict:
    return _describe(principal)


@probe.post("/ingest")
async def ingest(principal: Annotated[Principal, Depends(require_scope("ingest"))]) -> dict:
    return _describe(principal)


@probe.get("/read")
async def read(principal: Annotated[Principal, Depends(require_scope("read"))]) -> dict:
    return _describe(principal)


@pytest.fixture
async def srv(make_settings, sql_backend):
    server = LiveServer(make_settings(sql=sql_backend))
    server.app.include_router(probe)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(srv) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        yield c


async def _create_key(client, token: str, scopes: list[str], name: str = "ci") -> dict:
    response = await client.post(
        "/api/v1/api-keys", headers=bearer(token), json={"name": name, "scopes": scopes}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_key_is_shown_once_and_stored_hashed(srv, client) -> None:
    owner = await register(client)
    created = await _create_key(client, owner["access_token"], ["ingest", "read"], "collector")
    key = created["key"]
    assert key.startswith(created["prefix"]) and created["prefix"].startswith("tk_")
    assert created["scopes"] == ["ingest", "read"]
    assert created["created_by"] == owner["user"]["id"]

    listing = await client.get("/api/v1/api-keys", headers=bearer(owner["access_token"]))
    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert item == {k: v for k, v in created.items() if k != "key"}
    assert key not in listing.text

    async with srv.resources.sessions() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.id == created["id"]))).scalar_one()
    assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in (row.secret_hash, row.prefix, row.name)


async def test_key_works_as_bearer_and_as_x_api_key(srv, client) -> None:
    owner = await register(client)
    created = await _create_key(client, owner["access_token"], ["read"])
    expected = {
        "org_id": owner["user"]["org"]["id"],
        "kind": "api_key",
        "user_id": None,
        "scopes": ["read"],
    }
    for headers in (bearer(created["key"]), {"X-API-Key": created["key"]}):
        response = await client.get("/_probe/whoami", headers=headers)
        assert response.status_code == 200
        assert response.json() == expected
    listing = await client.get("/api/v1/api-keys", headers=bearer(owner["access_token"]))
    assert listing.json()["items"][0]["last_used_at"] is not None


async def test_key_without_ingest_scope_cannot_ingest(client) -> None:
    owner = await register(client)
    read_only = await _create_key(client, owner["access_token"], ["read"])
    ingest_only = await _create_key(client, owner["access_token"], ["ingest"])

    refused = await client.post("/_probe/ingest", headers={"X-API-Key": read_only["key"]})
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "insufficient_scope",
        "message": "this credential lacks the 'ingest' scope",
        "details": {"required": "ingest", "granted": ["read"]},
    }
    assert (await client.get("/_probe/read", headers=bearer(read_only["key"]))).status_code == 200

    allowed = await client.post("/_probe/ingest", headers=bearer(ingest_only["key"]))
    assert allowed.status_code == 200
    cant_read = await client.get("/_probe/read", headers=bearer(ingest_only["key"]))
    assert (cant_read.status_code, error_code(cant_read)) == (403, "insufficient_scope")

    # A user token carries every scope.
    user = await client.post("/_probe/ingest", headers=bearer(owner["access_token"]))
    assert user.status_code == 200
    assert user.json()["kind"] == "user" and user.json()["scopes"] == ["ingest", "read"]


async def test_one_orgs_user_cannot_list_use_or_delete_another_orgs_keys(client) -> None:
    alice, mallory = await register(client), await register(client)
    key = await _create_key(client, alice["access_token"], ["ingest"])

    listing = await client.get("/api/v1/api-keys", headers=bearer(mallory["access_token"]))
    assert (listing.status_code, listing.json()) == (200, {"items": []})

    delete = await client.delete(
        f"/api/v1/api-keys/{key['id']}", headers=bearer(mallory["access_token"])
    )
    assert delete.status_code == 404  # not 403: another org's key id reveals nothing
    assert error_code(delete) == "not_found"

    # The key still authenticates only as Alice's org, whoever presents it.
    who = await client.get("/_probe/whoami", headers={"X-API-Key": key["key"]})
    assert who.json()["org_id"] == alice["user"]["org"]["id"] != mallory["user"]["org"]["id"]

    # Alice revokes it: it stops working at once and a second delete is 404.
    gone = await client.delete(
        f"/api/v1/api-keys/{key['id']}", headers=bearer(alice["access_token"])
    )
    assert gone.status_code == 204
    after = await client.get("/_probe/whoami", headers={"X-API-Key": key["key"]})
    assert (after.status_code, error_code(after)) == (401, "invalid_api_key")
    again = await client.delete(
        f"/api/v1/api-keys/{key['id']}", headers=bearer(alice["access_token"])
    )
    assert (again.status_code, error_code(again)) == (404, "not_found")
    mine = await client.get("/api/v1/api-keys", headers=bearer(alice["access_token"]))
    assert mine.json() == {"items": []}


async def test_api_keys_cannot_manage_keys_or_act_as_a_user(client) -> None:
    owner = await register(client)
    key = (await _create_key(client, owner["access_token"], ["ingest", "read"]))["key"]
    for method, path in (("GET", "/api/v1/api-keys"), ("GET", "/auth/me")):
        response = await client.request(method, path, headers=bearer(key))
        assert (response.status_code, error_code(response)) == (403, "user_token_required")
    create = await client.post(
        "/api/v1/api-keys", headers=bearer(key), json={"name": "x", "scopes": ["read"]}
    )
    assert (create.status_code, error_code(create)) == (403, "user_token_required")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "not_authenticated"),
        ({"X-API-Key": "tk_000000000000_not-a-real-key"}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer tk_000000000000_not-a-real-key"}, 401, "invalid_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "not_authenticated"),
        ({"Authorization": "Bearer garbage"}, 401, "token_invalid"),
    ],
)
async def test_org_scope_fails_closed(client, headers, status, code) -> None:
    response = await client.get("/_probe/whoami", headers=headers)
    assert (response.status_code, error_code(response)) == (status, code)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_two_credentials_at_once_are_refused(client) -> None:
    owner = await register(client)
    key = (await _create_key(client, owner["access_token"], ["read"]))["key"]
    response = await client.get(
        "/_probe/whoami", headers={**bearer(owner["access_token"]), "X-API-Key": key}
    )
    assert (response.status_code, error_code(response)) == (400, "ambiguous_credentials")


async def test_members_can_list_but_only_owners_create_or_delete(srv, client) -> None:
    owner = await register(client)
    key = await _create_key(client, owner["access_token"], ["read"])
    member_email = unique_email("member")
    async with srv.resources.sessions() as session:
        member, org = await service.ensure_user(
            session, email=member_email, password=PASSWORD, org_name=owner["user"]["org"]["name"]
        )
        await session.commit()
    assert (member.role, org.id) == ("member", owner["user"]["org"]["id"])
    login = await client.post("/auth/login", json={"email": member_email, "password": PASSWORD})
    token = login.json()["access_token"]

    listing = await client.get("/api/v1/api-keys", headers=bearer(token))
    assert [k["id"] for k in listing.json()["items"]] == [key["id"]]
    create = await client.post(
        "/api/v1/api-keys", headers=bearer(token), json={"name": "m", "scopes": ["read"]}
    )
    assert (create.status_code, error_code(create)) == (403, "owner_required")
    delete = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=bearer(token))
    assert (delete.status_code, error_code(delete)) == (403, "owner_required")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["admin"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
    ],
)
async def test_bad_key_requests_are_422_naming_the_field(client, body, field) -> None:
    owner = await register(client)
    response = await client.post(
        "/api/v1/api-keys", headers=bearer(owner["access_token"]), json=body
    )
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
