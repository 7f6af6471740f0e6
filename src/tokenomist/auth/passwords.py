"""Password hashing (Argon2id via pwdlib) and the minimum password policy.

Hashing is CPU-bound (tens of milliseconds by design), so it runs in a worker thread and never
blocks the event loop.
"""

from __future__ import annotations

import asyncio
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 10
# Argon2 accepts any length; a bound keeps one request from costing seconds of CPU.
MAX_LENGTH = 1024

_hasher = PasswordHash((Argon2Hasher(),))


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that path costs the same time as a wrong
    password and response timing does not reveal which accounts exist."""
    return _hasher.hash("tokenomist-timing-equalizer")


def policy_violation(password: str, email: str) -> str | None:
    """Why ``password`` is not acceptable for ``email``, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    folded = password.strip().casefold()
    local_part = email.rpartition("@")[0].casefold()
    if folded in (email.casefold(), local_part):
        return "password must not be the email address"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check; ``password_hash=None`` (unknown user) still costs one verify."""
    if password_hash is None:
        await asyncio.to_thread(_hasher.verify, password, _dummy_hash())
        return False
    return await asyncio.to_thread(_hasher.verify, password, password_hash)
