"""Org API key format: ``tk_<12 hex>_<43 url-safe chars>``.

The first 15 characters (``tk_`` + 12 hex) are the visible prefix that identifies a key in
listings; the rest is 256 bits of randomness. Only the SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_MARK = "tk_"
PREFIX_LENGTH = len(KEY_MARK) + 12


def generate() -> tuple[str, str, str]:
    """A new key: ``(key, visible_prefix, secret_hash)``."""
    key = f"{KEY_MARK}{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    return key, key[:PREFIX_LENGTH], hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    """API keys and JWTs share the Bearer header; a JWT never starts with ``tk_``."""
    return credential.startswith(KEY_MARK)
