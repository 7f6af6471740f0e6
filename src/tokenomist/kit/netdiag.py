"""Name the real cause of a failure to reach a dependency.

Operators misread "Error -3" as a refused connection; it is a DNS failure. ``classify`` walks
an exception and its causes and returns one of ``dns``, ``refused``, ``timeout``, ``auth``,
``tls``, ``other`` together with a human sentence.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass

from tokenomist.kit.masking import mask_secrets, mask_url

__all__ = ["Cause", "classify", "describe", "mask_url"]  # mask_url: kept importable from here

DNS_ERRNOS = {
    socket.EAI_NONAME: "EAI_NONAME",
    socket.EAI_AGAIN: "EAI_AGAIN",
    getattr(socket, "EAI_NODATA", -5): "EAI_NODATA",
    socket.EAI_FAIL: "EAI_FAIL",
}
AUTH_MARKERS = (
    "password authentication failed",
    "noauth",
    "wrongpass",
    "invalid username-password",
    "authentication failed",
    "authentication required",
    "access denied",
    "invalidpassworderror",
    'role "',
)
DNS_MARKERS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated with hostname",
    "getaddrinfo failed",
)
REFUSED_MARKERS = ("connection refused", "connect call failed", "errno 111")


@dataclass(frozen=True)
class Cause:
    kind: str  # dns | refused | timeout | auth | tls | other
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        stack.extend([cur.__cause__, cur.__context__])
        if isinstance(cur, BaseExceptionGroup):
            stack.extend(cur.exceptions)
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)
    return seen


def classify(exc: BaseException) -> Cause:
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, socket.gaierror):
            name = DNS_ERRNOS.get(e.errno or 0, f"errno {e.errno}")
            return Cause("dns", f"DNS lookup failed ({name}): {e.strerror or e}")
    for e in chain:
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return Cause("tls", f"TLS handshake failed: {e}")
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or (
            isinstance(e, OSError) and e.errno == errno.ECONNREFUSED
        ):
            return Cause("refused", f"connection refused: {e}")
    for e in chain:
        if isinstance(e, TimeoutError | asyncio.TimeoutError) or type(e).__name__ in (
            "TimeoutError",
            "ConnectTimeout",
            "ReadTimeout",
            "PoolTimeout",
        ):
            return Cause("timeout", f"timed out: {e}" if str(e) else "timed out")
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain)
    low = text.lower()
    if any(m in low for m in AUTH_MARKERS) or any(
        type(e).__name__ in ("AuthenticationError", "InvalidPasswordError") for e in chain
    ):
        return Cause("auth", f"authentication failed: {_first_line(exc)}")
    if any(m in low for m in DNS_MARKERS) or "error -2 " in low or "error -3 " in low:
        return Cause("dns", f"DNS lookup failed: {_first_line(exc)}")
    if "ssl" in low or "certificate" in low or "tls" in low:
        return Cause("tls", f"TLS handshake failed: {_first_line(exc)}")
    if any(m in low for m in REFUSED_MARKERS):
        return Cause("refused", f"connection refused: {_first_line(exc)}")
    if "timeout" in low or "timed out" in low:
        return Cause("timeout", f"timed out: {_first_line(exc)}")
    return Cause("other", _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def describe(dependency: str, url: str, exc: BaseException) -> str:
    """One line: 'Redis at redis://cache:6379/0 unreachable: DNS lookup failed (EAI_AGAIN): ...'."""
    cause = classify(exc)
    # The cause quotes the driver's text, which may repeat the DSN with its password.
    return mask_secrets(f"{dependency} at {mask_url(url)} unreachable: {cause.message}")
