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


async def check(cache: Cache, settings: Settings, email: str, ip: str) -> None:
    for key, limit, what in (
        (_email_key(email), settings.login_max_failures, "this email"),
        (_ip_key(ip), settings.login_ip_max_failures, "this client address"),
    ):
        count = await cache.get(key)
        if count is not None and int(count) >= limit:
            ttl = await cache.ttl(key)
            retry_after = max(1, math.ceil(ttl if ttl is not None else 1))
            raise RateLimited(
                f"too many failed logins for {what}; retry in {retry_after} s",
                code="too_many_login_attempts",
                details={"retry_after_s": retry_after},
                headers={"Retry-After": str(retry_after)},
            )


async def record_failure(cache: Cache, settings: Settings, email: str, ip: str) -> None:
    window = settings.login_failure_window_s
    await cache.incr(_email_key(email), ttl_s=window)
    await cache.incr(_ip_key(ip), ttl_s=window)


async def record_success(cache: Cache, email: str) -> None:
    # The IP count is kept: one good password must not reset guessing on other accounts.
    await cache.delete(_email_key(email))
