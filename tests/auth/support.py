"""Helpers for the auth suites: unique accounts over real HTTP, and hand-made JWTs."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt

PASSWORD = "correct horse battery"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **extra
) -> dict:
    response = await client.post(
        "/auth/register", json={"email": email or unique_email(), "password": password, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict:
    """The payload of a token, unverified (to build variants of a real one)."""
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(payload: dict, alg: str = "none") -> str:
    """A JWT whose header names ``alg`` and whose signature part is empty or junk."""
    signature = "" if alg == "none" else b64(b"\x00" * 256)
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}.{signature}"


def fresh_payload(template: dict, **changes) -> dict:
    now = int(time.time())
    payload = {**template, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def error_reason(response: httpx.Response) -> str | None:
    return (response.json()["error"].get("details") or {}).get("reason")
