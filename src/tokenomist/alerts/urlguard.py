"""Keeping alert channels off internal addresses (SSRF).

A channel URL is the one place where a user of the API makes this server open a connection to
an address of their choosing. Unless ``alerts_allow_private_urls`` is on, that address must be
public: not loopback, private, link-local (where cloud metadata lives), shared, multicast,
reserved or unspecified. It is checked twice:

- when the channel is created (``check_url``: a 422 naming ``url`` and why);
- at every delivery, by the HTTP client's own connector (``guarded_transport``). It resolves the
  host once, refuses the connection if any address is internal, connects to a vetted address
  (so a DNS answer that changes between check and connect — rebinding — is never used), and
  checks the peer address of the socket it actually got before a byte is sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from tokenomist.kit.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "TOKENOMIST_ALERTS_ALLOW_PRIVATE_URLS"


class RefusedAddress(httpcore.ConnectError):
    """A delivery refused before connecting: the host is (or turned into) an internal address."""


def why_refused(address: str) -> str | None:
    """Why this server will not connect to ``address``, or None when it is a public address."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refusal(host: str, addresses: Iterable[str]) -> str | None:
    for address in addresses:
        why = why_refused(address)
        if why is not None:
            return f"{host} is {why}" if host == address else f"{host} resolves to {address}, {why}"
    return None


def _invalid(message: str) -> Unprocessable:
    return Unprocessable(
        f"url: {message}", code="validation_error", details=[{"field": "url", "message": message}]
    )


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse (422 naming ``url``) a channel URL whose host is, or resolves to, an internal
    address, or does not resolve at all."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    if not host:
        raise _invalid("the URL names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise _invalid(f"host {host!r} does not resolve: {exc}") from None
    refusal = _refusal(host, addresses)
    if refusal is not None:
        raise _invalid(
            f"{refusal}; alert channels must reach a public address "
            f"(set {SETTING}=true to allow internal receivers)"
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connector with the address checks of this module in front of it."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        if not self.allow_private:
            refusal = _refusal(host, addresses)
            if refusal is not None:
                raise RefusedAddress(f"refused: {refusal} (set {SETTING}=true to allow it)")
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            peer = stream.get_extra_info("server_addr")
            why = why_refused(str(peer[0])) if peer and not self.allow_private else None
            if why is not None:
                await stream.aclose()
                raise RefusedAddress(f"refused: connected to {peer[0]}, which is {why}")
            return stream
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("alert channels do not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(allow_private: bool) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through ``GuardedBackend``. No proxy from
    the environment: through a proxy the address checked would be the proxy's."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx exposes no network-backend option; its pool is rebuilt the way httpx builds it,
    # with the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=GuardedBackend(allow_private),
    )
    return transport
