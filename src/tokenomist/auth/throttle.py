"""Login throttling: failed attempts are counted per email and per client IP in the cache tier
(fixed window of ``login_failure_window_s``). Once either count reaches its limit, logins for
that email / from that IP answer 429 with ``Retry-After`` until the window ends — even with the
right password, or guessing could continue."""

from __future__ import annotations

import hashlib
import math

from tokenomist.kit.cache import Cache
from tokenomist.kit.errors import RateLimited
from tokenomist.settings import Settings


def _email_key(email: str) -> str:
    # Hashed: keys stay short and carry no personal data.
    return "auth:login-fail:email:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _ip_key(ip: str) -> str:
    return f"auth:login-fail:ip:{ip}"


def _limited(retry_after: int, what: str) -> RateLimited:
    return RateLimited(
        f"too many failed logins for {what}; retry in {retry_after} s",
        code="too_many_login_attempts",
        details={"retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


async def _retry_after(cache: Cache, key: str) -> int:
    ttl = await cache.ttl(key)
    return max(1, math.ceil(ttl if ttl is not None else 1))


async def check(cache: Cache, settings: Settings, email: str, ip: str) -> None:
    for key, limit, what in (
        (_email_key(email), settings.login_max_failures, "this email"),
        (_ip_key(ip), settings.login_ip_max_failures, "this client address"),
    ):
        count = await cache.get(key)
        if count is not None and int(count) >= limit:
            raise _limited(await _retry_after(cache, key), what)


async def reserve(cache: Cache, settings: Settings, email: str) -> None:
    """Count this attempt against the email before its password is verified (the count is
    cleared on success). Checking first and counting after the slow verify let a burst of
    concurrent guesses all pass ``check`` before the first failure was recorded."""
    key = _email_key(email)
    if await cache.incr(key, ttl_s=settings.login_failure_window_s) > settings.login_max_failures:
        raise _limited(await _retry_after(cache, key), "this email")


async def record_failure(cache: Cache, settings: Settings, ip: str) -> None:
    """A failed attempt from ``ip`` (its email was counted by ``reserve``)."""
    await cache.incr(_ip_key(ip), ttl_s=settings.login_failure_window_s)


async def record_success(cache: Cache, email: str) -> None:
    # The IP count is kept: one good password must not reset guessing on other accounts.
    await cache.delete(_email_key(email))
