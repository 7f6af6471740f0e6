"""JWT issue and verification (PyJWT). Pure functions of settings + secret; no I/O.

Every token carries ``sub, org, iat, exp, jti, typ, iss, aud`` and ``fam`` (the refresh
family of the login that produced it, so revoking a family also reaches its access tokens).
Decoding pins the algorithm to the configured one: a token whose header names any other
algorithm (``none``, RS256, a different HMAC) is refused before its signature is looked at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from tokenomist.kit.errors import Unauthorized
from tokenomist.settings import Settings

TokenType = Literal["access", "refresh"]
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
REQUIRED_CLAIMS = ("sub", "org", "iat", "exp", "jti", "typ", "iss", "aud", "fam")
LEEWAY_S = 5  # clock skew tolerated between instances


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    org: str
    jti: str
    fam: str
    typ: TokenType
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims


def new_jti() -> str:
    return uuid.uuid4().hex


def _algorithm(settings: Settings) -> str:
    if settings.jwt_algorithm not in HMAC_ALGORITHMS:
        # The secret is a shared key; an asymmetric algorithm here would be a misconfiguration.
        raise ValueError(
            f"TOKENOMIST_JWT_ALGORITHM={settings.jwt_algorithm!r} is not supported; "
            f"use one of {sorted(HMAC_ALGORITHMS)}"
        )
    return settings.jwt_algorithm


def issue(
    settings: Settings,
    secret: str,
    *,
    typ: TokenType,
    user_id: str,
    org_id: str,
    family_id: str,
    now: datetime | None = None,
    ttl_s: int | None = None,
) -> IssuedToken:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if ttl_s is None:
        ttl_s = settings.access_token_ttl_s if typ == "access" else settings.refresh_token_ttl_s
    claims = TokenClaims(
        sub=user_id,
        org=org_id,
        jti=new_jti(),
        fam=family_id,
        typ=typ,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    payload = {
        "sub": claims.sub,
        "org": claims.org,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "jti": claims.jti,
        "typ": typ,
        "fam": claims.fam,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return IssuedToken(jwt.encode(payload, secret, algorithm=_algorithm(settings)), claims)


def _invalid(reason: str, message: str) -> Unauthorized:
    return Unauthorized(message, code="token_invalid", details={"reason": reason})


def decode(settings: Settings, secret: str, token: str, *, expected: TokenType) -> TokenClaims:
    """Verify ``token`` completely (except revocation, which needs the cache tier).

    Raises ``Unauthorized`` with code ``token_expired`` or ``token_invalid``; for the latter,
    ``details.reason`` names what was wrong.
    """
    algorithm = _algorithm(settings)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _invalid("malformed", "token is not a well-formed JWT") from exc
    if header.get("alg") != algorithm:
        raise _invalid(
            "algorithm_not_allowed",
            f"token algorithm {header.get('alg')!r} is not accepted (expected {algorithm})",
        )
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token has expired", code="token_expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise _invalid("bad_signature", "token signature does not verify") from exc
    except jwt.InvalidIssuerError as exc:
        raise _invalid("wrong_issuer", "token was issued by another issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise _invalid("wrong_audience", "token is meant for another audience") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid("missing_claim", f"token lacks the {exc.claim!r} claim") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _invalid("not_yet_valid", "token is not valid yet") from exc
    except jwt.PyJWTError as exc:
        raise _invalid("malformed", f"token is not valid: {exc}") from exc

    if payload["typ"] != expected:
        raise _invalid(
            "wrong_token_type", f"a {payload['typ']!r} token was given where {expected!r} is needed"
        )
    fields = ("sub", "org", "jti", "fam")
    if not all(isinstance(payload[f], str) and payload[f] for f in fields):
        raise _invalid("malformed", "token claims sub/org/jti/fam must be non-empty strings")
    return TokenClaims(
        sub=payload["sub"],
        org=payload["org"],
        jti=payload["jti"],
        fam=payload["fam"],
        typ=payload["typ"],
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )
