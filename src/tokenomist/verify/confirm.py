"""Confirm probes the verifier runs itself to turn a signature's hypothesis into evidence.

They run from the verifier's network, which the quote says: a name that resolves on the target
but not here (or the reverse) is itself a finding about the networks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

import httpx

from tokenomist.kit.netdiag import classify as net_classify
from tokenomist.verify.classify import Group
from tokenomist.verify.whys import ProbeResult


async def resolve_host(host: str) -> ProbeResult:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=5)
    except socket.gaierror as exc:
        return ProbeResult("resolve_host", host, False, net_classify(exc).message)
    except TimeoutError:
        return ProbeResult("resolve_host", host, False, "no DNS answer within 5s")
    addrs = sorted({str(i[4][0]) for i in infos})
    return ProbeResult("resolve_host", host, True, f"resolves to {', '.join(addrs)}")


async def tcp_connect(host: str, port: int) -> ProbeResult:
    target = f"{host}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5)
    except TimeoutError:
        return ProbeResult("tcp_connect", target, False, "no answer within 5s (packets dropped)")
    except OSError as exc:
        return ProbeResult("tcp_connect", target, False, net_classify(exc).message)
    writer.close()
    return ProbeResult("tcp_connect", target, True, "TCP connection accepted")


async def tls_handshake(host: str, port: int) -> ProbeResult:
    target = f"{host}:{port}"
    ctx = ssl.create_default_context()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), timeout=5
        )
    except (OSError, TimeoutError) as exc:
        return ProbeResult("tls_handshake", target, False, f"{type(exc).__name__}: {exc}")
    writer.close()
    return ProbeResult(
        "tls_handshake", target, True, "TLS handshake completed, certificate trusted"
    )


async def health_recheck(target: str, subject: str) -> ProbeResult:
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.get(target.rstrip("/") + "/health/ready")
    except httpx.HTTPError as exc:
        return ProbeResult("health_recheck", target, False, net_classify(exc).message)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # an edge's page, or JSON that is no health body
        return ProbeResult("health_recheck", target, False, f"{resp.status_code} {resp.text[:200]}")
    checks = body.get("checks")
    dep = checks.get(subject) if isinstance(checks, dict) else None
    if dep is None:
        return ProbeResult(
            "health_recheck",
            target,
            resp.status_code == 200,
            f"{resp.status_code} status={body.get('status')}",
        )
    ok = dep.get("status") == "healthy"
    return ProbeResult(
        "health_recheck", f"{target} checks.{subject}", ok, f"again {json.dumps(dep)}"
    )


async def run_for(group: Group, target: str) -> ProbeResult | None:
    """The signature's auto probe for this group, when its inputs (host/port) are known."""
    name = group.signature.auto_probe
    host, port = group.values.get("host"), group.values.get("port")
    if name == "resolve_host" and host:
        return await resolve_host(host)
    if name == "tcp_connect" and host and port:
        return await tcp_connect(host, int(port))
    if name == "tls_handshake" and host and port:
        return await tls_handshake(host, int(port))
    if name == "health_recheck":
        return await health_recheck(target, group.subject)
    return None
