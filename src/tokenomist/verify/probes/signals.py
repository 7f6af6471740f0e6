"""What a failing probe reports: ``ProbeFailed`` with its message, the signals classification
matches the signature catalogue on, and the evidence the whys quote."""

from __future__ import annotations

from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tokenomist.kit.netdiag import classify as net_classify


class ProbeFailed(Exception):
    def __init__(
        self,
        message: str,
        *,
        signals: list[str] | None = None,
        evidence: list[str] | None = None,
        subject: str = "target",
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.signals = signals or []
        self.evidence = evidence or []
        self.subject = subject
        self.data = data or {}


class ProbeSkipped(Exception):
    pass


def exception_signals(exc: BaseException) -> list[str]:
    """Tags and texts of an exception and its causes (what the catalogue matches on)."""
    out: list[str] = [f"net.kind:{net_classify(exc).kind}", net_classify(exc).message]
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(f"{type(cur).__name__}: {cur}")
        if isinstance(cur, InvalidStatus):
            out.append(f"ws.handshake:{cur.response.status_code}")
            out.append(cur.response.body.decode(errors="replace")[:500])
        if isinstance(cur, ConnectionClosed):
            code = cur.rcvd.code if cur.rcvd is not None else 1006
            reason = cur.rcvd.reason if cur.rcvd is not None else "no close frame"
            out.append(f"ws.close:{code}")
            out.append(f"WebSocket closed {code}: {reason}")
        cur = cur.__cause__ or cur.__context__
    return out


def response_signals(resp: httpx.Response) -> list[str]:
    out = [f"http:{resp.status_code}"]
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code in (502, 503, 504) and not (
        isinstance(body, dict) and ("error" in body or "checks" in body)
    ):
        out.append(f"edge:{resp.status_code}")  # not the app's own JSON: a proxy answered
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        out.append(f"auth.error:{err.get('code')}")
        reason = (err.get("details") or {}) if isinstance(err.get("details"), dict) else {}
        if reason.get("reason"):
            out.append(f"auth.reason:{reason['reason']}")
        out.append(f"{err.get('code')}: {err.get('message')}")
    out.append(resp.text[:500])
    return out


def quote_response(method: str, path: str, resp: httpx.Response) -> str:
    return f"{method} {path} → {resp.status_code} {resp.text[:300]}"


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} (an edge's HTML page, a list, no body)."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
