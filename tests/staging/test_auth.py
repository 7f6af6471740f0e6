import uuid

import httpx


def test_login_token_validates_and_names_the_user(
    http: httpx.Client, credentials: tuple[str, str], access_token: str
) -> None:
    resp = http.post(
        "/auth/validate-token-and-get-user", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["valid"] is True
    assert body["user"]["email"] == credentials[0]


def test_unknown_account_is_refused_with_401(http: httpx.Client) -> None:
    # A throwaway address: failed logins count per email, and the verifier's own account must
    # not be throttled by its own suite.
    email = f"nobody-{uuid.uuid4().hex[:12]}@verify.tokenomist.dev"
    resp = http.post("/auth/login", json={"email": email, "password": "wrong-Password-1"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_credentials"


def test_garbage_token_is_invalid(http: httpx.Client) -> None:
    resp = http.post(
        "/auth/validate-token-and-get-user", headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert resp.status_code == 401
    assert resp.json()["valid"] is False
