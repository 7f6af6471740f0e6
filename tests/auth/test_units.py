"""Pure pieces of auth: password policy and hashing, JWT issue/decode, API key format, email
normalization. No server needed."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.auth.support import b64, unsigned_token
from tokenomist.auth import api_keys, passwords, tokens
from tokenomist.auth.schemas import checked_email
from tokenomist.kit.errors import Unauthorized
from tokenomist.settings import Environment, Settings

SECRET = "unit-secret-" + "y" * 40


# Forging an HS512 token with the (HS256-sized) test secret is the point of one case.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None, environment=Environment.test, data_dir=tmp_path, jwt_secret=SECRET
    )


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("short", "a@x.io", "password must be at least 10 characters"),
        ("x" * 1025, "a@x.io", "password must be at most 1024 characters"),
        ("longname@example.com", "longname@example.com", "password must not be the email address"),
        ("LongName@Example.com", "longname@example.com", "password must not be the email address"),
        ("averylongname", "averylongname@x.io", "password must not be the email address"),
        ("correct horse battery", "a@x.io", None),
    ],
)
def test_password_policy(password: str, email: str, problem: str | None) -> None:
    assert passwords.policy_violation(password, email) == problem


async def test_password_hash_is_argon2_and_verifies_only_the_right_password() -> None:
    hashed = await passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert await passwords.verify_password("correct horse battery", hashed) is True
    assert await passwords.verify_password("correct horse batterz", hashed) is False
    assert await passwords.verify_password("correct horse battery", None) is False


def test_access_token_round_trip_carries_every_claim(settings: Settings) -> None:
    issued = tokens.issue(settings, SECRET, typ="access", user_id="u1", org_id="o1", family_id="f1")
    raw = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(raw) == {"sub", "org", "iat", "exp", "jti", "typ", "fam", "iss", "aud"}
    assert raw["exp"] - raw["iat"] == settings.access_token_ttl_s
    claims = tokens.decode(settings, SECRET, issued.token, expected="access")
    assert (claims.sub, claims.org, claims.fam, claims.typ) == ("u1", "o1", "f1", "access")
    other = tokens.issue(settings, SECRET, typ="access", user_id="u1", org_id="o1", family_id="f1")
    assert claims.jti != tokens.decode(settings, SECRET, other.token, expected="access").jti


def _refused(settings: Settings, token: str, expected: str = "access") -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        tokens.decode(settings, SECRET, token, expected=expected)  # type: ignore[arg-type]
    return info.value


def _payload(settings: Settings, **changes) -> dict:
    now = int(time.time())
    payload = {
        "sub": "u1",
        "org": "o1",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "typ": "access",
        "fam": "f1",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


@pytest.mark.parametrize(
    ("build", "code", "reason"),
    [
        (lambda s: unsigned_token(_payload(s), "none"), "token_invalid", "algorithm_not_allowed"),
        (lambda s: unsigned_token(_payload(s), "RS256"), "token_invalid", "algorithm_not_allowed"),
        (
            lambda s: jwt.encode(_payload(s), SECRET, algorithm="HS512"),
            "token_invalid",
            "algorithm_not_allowed",
        ),
        (
            lambda s: jwt.encode(_payload(s), "another-secret-" + "z" * 40, algorithm="HS256"),
            "token_invalid",
            "bad_signature",
        ),
        (
            lambda s: jwt.encode(
                _payload(s, iat=int(time.time()) - 700, exp=int(time.time()) - 60), SECRET
            ),
            "token_expired",
            None,
        ),
        (lambda s: jwt.encode(_payload(s, iss="evil"), SECRET), "token_invalid", "wrong_issuer"),
        (lambda s: jwt.encode(_payload(s, aud="other"), SECRET), "token_invalid", "wrong_audience"),
        (lambda s: jwt.encode(_payload(s, jti=None), SECRET), "token_invalid", "missing_claim"),
        (lambda s: jwt.encode(_payload(s, fam=None), SECRET), "token_invalid", "missing_claim"),
        (
            lambda s: jwt.encode(_payload(s, typ="refresh"), SECRET),
            "token_invalid",
            "wrong_token_type",
        ),
        (lambda s: "not-a-jwt", "token_invalid", "malformed"),
        (lambda s: f"{b64({'alg': 'HS256'})}.!!!.abc", "token_invalid", "malformed"),
    ],
    ids=[
        "alg-none",
        "alg-rs256",
        "alg-hs512",
        "wrong-signature",
        "expired",
        "wrong-issuer",
        "wrong-audience",
        "no-jti",
        "no-family",
        "refresh-as-access",
        "garbage",
        "bad-payload",
    ],
)
def test_decode_refuses(settings: Settings, build, code: str, reason: str | None) -> None:
    error = _refused(settings, build(settings))
    assert error.status_code == 401
    assert error.code == code
    assert (error.details or {}).get("reason") == reason


def test_access_token_is_refused_where_a_refresh_token_is_needed(settings: Settings) -> None:
    issued = tokens.issue(settings, SECRET, typ="access", user_id="u", org_id="o", family_id="f")
    error = _refused(settings, issued.token, expected="refresh")
    assert (error.code, error.details) == ("token_invalid", {"reason": "wrong_token_type"})


def test_asymmetric_algorithm_setting_is_refused(settings: Settings) -> None:
    settings.jwt_algorithm = "RS256"
    with pytest.raises(ValueError, match="RS256"):
        tokens.issue(settings, SECRET, typ="access", user_id="u", org_id="o", family_id="f")


def test_api_key_format_prefix_and_hash() -> None:
    key, prefix, secret_hash = api_keys.generate()
    assert key.startswith(prefix) and prefix.startswith("tk_") and len(prefix) == 15
    assert len(key) > 50 and api_keys.looks_like_key(key)
    assert secret_hash == api_keys.hash_key(key) and len(secret_hash) == 64
    assert secret_hash != api_keys.generate()[2]
    assert not api_keys.looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.x")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Alice@Example.COM ", "alice@example.com"),
        ('"\' OR 1=1 --"@x.io', '"\' or 1=1 --"@x.io'),
        ("Ünïcødé@例え.jp", "ünïcødé@例え.jp"),
        ("U\u0308ber@x.io", "\u00fcber@x.io"),  # NFD input is stored as NFC
    ],
)
def test_email_normalization_keeps_the_data(raw: str, stored: str) -> None:
    assert checked_email(raw) == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("no-at-sign.io", "email must look like name@domain.tld"),
        ("a@localhost", "the domain after @ must look like domain.tld"),
        ("a b@x.io", "the part before @ must not contain spaces (unless quoted)"),
        ("a@x..io", "the domain after @ must look like domain.tld"),
        ("a\x00@x.io", "email must not contain control characters"),
        ("x" * 65 + "@x.io", "the part before @ must be at most 64 characters"),
    ],
)
def test_email_shape_errors_name_the_problem(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        checked_email(raw)
    assert str(info.value) == message
