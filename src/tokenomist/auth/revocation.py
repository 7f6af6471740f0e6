"""Revoked access tokens and refresh families, kept in the cache tier (Redis when configured,
so revocation is shared by every instance and survives a restart) until the tokens they name
would have expired anyway."""

from __future__ import annotations

from datetime import UTC, datetime

from tokenomist.kit.cache import Cache


def _jti_key(jti: str) -> str:
    return f"auth:revoked:jti:{jti}"


def _family_key(family_id: str) -> str:
    return f"auth:revoked:fam:{family_id}"


async def revoke_token(cache: Cache, jti: str, expires_at: datetime) -> None:
    remaining = (expires_at - datetime.now(UTC)).total_seconds()
    # A few seconds past expiry: the decoder accepts that much clock skew.
    await cache.set(_jti_key(jti), "1", ttl_s=max(remaining, 0) + 10)


async def revoke_family(cache: Cache, family_id: str, ttl_s: float) -> None:
    """Refuse every access token of a login; ``ttl_s`` = the access-token lifetime, after
    which none issued before the revocation can still be alive."""
    await cache.set(_family_key(family_id), "1", ttl_s=ttl_s + 10)


async def is_revoked(cache: Cache, jti: str, family_id: str) -> bool:
    return await cache.exists(_jti_key(jti)) or await cache.exists(_family_key(family_id))
