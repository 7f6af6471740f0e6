"""Alert channels cannot be pointed at this server's own network (SSRF): internal addresses are
refused when a channel is created (422 naming ``url`` and why) and again when a delivery
connects, on the address resolved at that moment — unless the setting allows them."""

from __future__ import annotations

import httpx
import pytest

from tests.support.alerts import webhook
from tests.support.servers import live_server
from tests.support.usage import account
from tokenomist.alerts.urlguard import GuardedBackend, RefusedAddress, why_refused


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # AWS, GCP, Azure metadata
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("100.100.100.200", "not a public address"),  # Alibaba metadata, shared space
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_internal_addresses_are_refused_with_the_reason(address: str, why: str) -> None:
    assert why in (why_refused(address) or "")


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "151.101.1.69"])
def test_public_addresses_pass(address: str) -> None:
    assert why_refused(address) is None


@pytest.fixture
async def strict(make_settings):
    """The app as shipped: internal addresses not allowed."""
    async with live_server(make_settings()) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        yield c


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost:9/hook", "localhost resolves to "),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:9/hook", "::1 is a loopback address"),
        ("http://10.0.0.7/hook", "10.0.0.7 is a private address"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
async def test_an_internal_channel_url_is_a_422_naming_url(strict, url: str, said: str) -> None:
    user = await account(strict)
    for kind in ("webhook", "slack"):
        resp = await strict.post(
            "/api/v1/alert-channels", json={"kind": kind, "url": url}, headers=user
        )
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["code"] == "validation_error"
        (detail,) = error["details"]
        assert detail["field"] == "url"
        assert said in detail["message"], detail
        if "resolve" not in said:  # an internal address says how to allow it on purpose
            assert "TOKENOMIST_ALERTS_ALLOW_PRIVATE_URLS" in detail["message"]
    listed = await strict.get("/api/v1/alert-channels", headers=user)
    assert listed.json()["items"] == []


async def test_delivery_checks_the_address_it_connects_to(make_settings, receiver) -> None:
    """A channel that was allowed when created (the setting was on, or its host resolved to a
    public address then) is refused at delivery once it leads to an internal address: the
    receiver on loopback gets nothing and the attempt log says why."""
    async with (
        live_server(make_settings(alerts_allow_private_urls=True)) as lax,
        httpx.AsyncClient(base_url=lax.url) as client,
    ):
        user = await account(client)
        channel = await webhook(client, user, receiver.url.replace("127.0.0.1", "localhost"))
        assert (await client.post(f"/api/v1/alert-channels/{channel['id']}/test",
                                  headers=user)).json()["delivered"] is True  # fmt: skip
    assert len(receiver.requests) == 1
    async with (
        live_server(make_settings()) as strict,  # same database and JWT secret, setting off
        httpx.AsyncClient(base_url=strict.url) as client,
    ):
        resp = await client.post(f"/api/v1/alert-channels/{channel['id']}/test", headers=user)
        assert resp.status_code == 200, resp.text
        out = resp.json()
    assert out["delivered"] is False and out["status_code"] is None
    assert "refused: localhost resolves to " in out["error"], out
    assert "loopback" in out["error"]
    assert len(receiver.requests) == 1  # nothing reached the receiver


async def test_the_connector_refuses_a_loopback_peer(receiver) -> None:
    with pytest.raises(RefusedAddress, match=r"127\.0\.0\.1 is a loopback address"):
        await GuardedBackend(allow_private=False).connect_tcp("127.0.0.1", receiver.port)
    stream = await GuardedBackend(allow_private=True).connect_tcp("127.0.0.1", receiver.port)
    assert stream.get_extra_info("server_addr")[0] == "127.0.0.1"
    await stream.aclose()
