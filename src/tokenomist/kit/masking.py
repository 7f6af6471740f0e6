"""One masking function for everything the project writes as text: logs, error lines, the
verify outputs (report.json, junit.xml, pr.md, worklog.md).

An operator's deploy command, an exception's text or a probe's evidence can carry a secret
(``TOKENOMIST_CLICKHOUSE_URL=http://default:pw@ch:8123``); masking where text is *written*
keeps every writer safe without each one knowing what a secret looks like.

Masked: the password of a URL (``user:***@``), ``Bearer`` tokens, JWTs, the secret part of
``tk_`` API keys (the visible prefix is kept: it names the key), and the value of an
assignment whose name says secret (``*_SECRET=``, ``*_PASSWORD=``, ``*_TOKEN=``,
``*_API_KEY=``, ``--password=x``, ``"password": "x"``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# A name that holds a secret: …secret, …password, …passwd, …token, …api_key / …apikey.
_SENSITIVE_NAME = r"[A-Za-z0-9_.-]*(?:secret|password|passwd|pwd|token|api[_-]?key|credentials?)"
_SENSITIVE_KEY = re.compile(rf"^{_SENSITIVE_NAME}$|^authorization$|^cookie$", re.IGNORECASE)

_RULES: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host — the password may hold ':' but not '@', '/' or spaces.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@'\"`]*):[^\s/@'\"`]+@"), rf"\1:{MASK}@"),
    # Bearer <token>: 16+ token characters, so prose ("bearer authentication") is left alone
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(authorization:\s*basic\s+)[A-Za-z0-9+/=]+"), rf"\1{MASK}"),
    # a JWT anywhere (header.payload.signature; the header always starts with {" = eyJ)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),
    # tk_<12 hex>_<secret>: keep the prefix that identifies the key
    (re.compile(r"\b(tk_[0-9a-f]{12}_)[A-Za-z0-9_-]+"), rf"\1{MASK}"),
    # NAME=value / NAME='value' / NAME="value" (shell, .env, query strings)
    (
        re.compile(rf"(?i)\b({_SENSITIVE_NAME})=(?:'[^']*'|\"[^\"]*\"|[^\s'\"`&;,]+)"),
        rf"\1={MASK}",
    ),
    # "password": "value" (JSON or a dict's repr)
    (
        re.compile(rf"(?i)([\"']{_SENSITIVE_NAME}[\"']\s*:\s*)(?:\"[^\"]*\"|'[^']*')"),
        rf'\1"{MASK}"',
    ),
]


def mask_secrets(text: str) -> str:
    """The text with every secret it visibly carries replaced by ``***``."""
    if not text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def mask_data(value: Any, key: str | None = None) -> Any:
    """A copy of a JSON-like structure with every string masked, and the whole value of a key
    named like a secret (``password``, ``authorization``, ``jwt_secret``, …) replaced."""
    if key is not None and _SENSITIVE_KEY.match(key) and isinstance(value, str | bytes) and value:
        return MASK
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: mask_data(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_data(v) for v in value)
    return value


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and error lines)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    userinfo = f"{parts.username}:{MASK}@" if parts.username else f":{MASK}@"
    # Host and port as written: a malformed port must not turn an error line into a crash.
    hostinfo = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, userinfo + hostinfo, parts.path, parts.query, parts.fragment))
