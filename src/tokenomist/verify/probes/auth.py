"""``auth.*``: log in (registering throwaway users when none is given), validate the token, refuse
a forged one, and accept a token issued elsewhere (``--token``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tokenomist.kit.netdiag import classify as net_classify
from tokenomist.verify.probes.signals import (
    ProbeFailed,
    exception_signals,
    json_object,
    quote_response,
    response_signals,
)
from tokenomist.verify.probes.state import RunState, Session

VALIDATE = "/auth/validate-token-and-get-user"


async def post(state: RunState, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return await state.client.post(path, **kwargs)
    except httpx.HTTPError as exc:
        raise ProbeFailed(
            f"POST {path} failed: {net_classify(exc).message}",
            signals=exception_signals(exc),
            evidence=[f"POST {path} raised {type(exc).__name__}: {exc}"],
        ) from exc


async def register(state: RunState) -> Session:
    email = f"verify-{uuid.uuid4().hex[:12]}@verify.tokenomist.dev"
    password = f"Vf-{uuid.uuid4().hex}"
    resp = await post(state, "/auth/register", json={"email": email, "password": password})
    if resp.status_code != 201:
        raise ProbeFailed(
            f"POST /auth/register → {resp.status_code} (needed a verification user; pass "
            "--user/--password or --user2/--password2 when sign-up is disabled)",
            signals=response_signals(resp),
            evidence=[quote_response("POST", "/auth/register", resp)],
        )
    return Session(email, password, json_object(resp).get("access_token"))


async def login(state: RunState, session: Session) -> Session:
    resp = await post(
        state, "/auth/login", json={"email": session.email, "password": session.password}
    )
    body = json_object(resp)
    if resp.status_code != 200 or not body.get("access_token"):
        raise ProbeFailed(
            f"POST /auth/login as {session.email} → {resp.status_code}",
            signals=response_signals(resp),
            evidence=[quote_response("POST", "/auth/login", resp)],
        )
    session.access_token = body["access_token"]
    return session


async def probe_login(state: RunState) -> str:
    config = state.config
    state.users = []
    first = Session(*config.user) if config.user else await register(state)
    state.users = [await login(state, first)]
    try:
        second = Session(*config.user2) if config.user2 else await register(state)
    except ProbeFailed as exc:
        # Without a second user only isolation cannot run; it says so (skipped).
        state.second_user_problem = exc.message
        state.signup_open = False
        return f"logged in as {first.email} (no second user: {exc.message})"
    state.users.append(await login(state, second))
    return f"logged in as {first.email} and {second.email}"


async def _validate(state: RunState, token: str) -> httpx.Response:
    return await post(state, VALIDATE, headers={"Authorization": f"Bearer {token}"})


async def probe_validate(state: RunState) -> str:
    user = state.users[0]
    assert user.access_token is not None
    resp = await _validate(state, user.access_token)
    body = json_object(resp)
    if resp.status_code != 200 or body.get("valid") is not True:
        raise ProbeFailed(
            f"a fresh access token was not accepted: {resp.status_code}",
            signals=response_signals(resp),
            evidence=[quote_response("POST", VALIDATE, resp)],
        )
    email = (body.get("user") or {}).get("email")
    if email != user.email:
        raise ProbeFailed(
            f"validate returned user {email!r}, logged in as {user.email!r}",
            evidence=[quote_response("POST", VALIDATE, resp)],
        )
    return f"valid, user {email}"


async def probe_validate_bad(state: RunState) -> str:
    resp = await _validate(state, "not-a-jwt." + uuid.uuid4().hex)
    body = json_object(resp)
    if resp.status_code != 401 or body.get("valid") is not False:
        raise ProbeFailed(
            f"an invalid token was answered {resp.status_code}, expected 401 valid=false",
            signals=response_signals(resp),
            evidence=[quote_response("POST", VALIDATE, resp)],
        )
    return f"refused: {(body.get('error') or {}).get('code')}"


async def probe_provided_token(state: RunState) -> str:
    token = state.config.token
    assert token is not None
    resp = await _validate(state, token)
    if resp.status_code == 200 and json_object(resp).get("valid") is True:
        return "the provided token is accepted"
    fresh_ok = any(c.name == "auth.validate" and c.status == "passed" for c in state.checks)
    signals = ["auth:provided_token_rejected", *response_signals(resp)]
    if fresh_ok:
        signals.append("auth:fresh_token_accepted")
    raise ProbeFailed(
        f"the provided token was refused ({resp.status_code}) while a token issued by the "
        f"target itself {'validates' if fresh_ok else 'also fails'}",
        signals=signals,
        evidence=[quote_response("POST", VALIDATE, resp)],
    )
