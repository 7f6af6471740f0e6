"""Sending one event to one channel, and what an attempt's outcome does to its delivery.

A webhook gets the event as the raw JSON body, signed: ``X-Tokenomist-Signature:
sha256=<hex HMAC-SHA256 of exactly those bytes, keyed with the channel secret>``. A Slack
channel gets an incoming-webhook message (``{"text": …}``); Slack cannot check a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from tokenomist.alerts.models import AlertChannel, AlertDelivery, AlertEvent, DeliveryAttempt
from tokenomist.settings import Settings


def event_body(event: AlertEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "org_id": event.org_id,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_text(event: AlertEvent) -> str:
    d = event.data
    if event.type == "budget.threshold":
        return (
            f":warning: Budget *{d['budget_name']}* passed {d['threshold'] * 100:g}% "
            f"of ${d['amount_usd']:,.2f} this {d['period']}: ${d['spent_usd']:,.2f} spent."
        )
    if event.type == "budget.forecast":
        return (
            f":crystal_ball: Budget *{d['budget_name']}* is forecast to reach "
            f"${d['forecast_usd']:,.2f} of ${d['amount_usd']:,.2f} this {d['period']}."
        )
    return f"Tokenomist {event.type}: {json.dumps(d, sort_keys=True)}"


def request_for(event: AlertEvent, channel: AlertChannel) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", "User-Agent": "tokenomist-alerts"}
    if channel.kind == "slack":
        return json.dumps({"text": slack_text(event)}).encode(), headers
    body = json.dumps(event_body(event), separators=(",", ":"), sort_keys=True).encode()
    headers["X-Tokenomist-Event-Id"] = event.id
    headers["X-Tokenomist-Event-Type"] = event.type
    headers["X-Tokenomist-Signature"] = sign(channel.secret or "", body)
    return body, headers


@dataclass
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


async def send(client: httpx.AsyncClient, event: AlertEvent, channel: AlertChannel) -> Outcome:
    body, headers = request_for(event, channel)
    started = time.perf_counter()
    try:
        resp = await client.post(channel.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    if 200 <= resp.status_code < 300:
        return Outcome(True, resp.status_code, None, _ms(started))
    return Outcome(False, resp.status_code, f"HTTP {resp.status_code}", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def record(
    delivery: AlertDelivery, outcome: Outcome, now: datetime, settings: Settings
) -> DeliveryAttempt:
    """Apply an attempt's outcome to the delivery; the attempt row to add to the session."""
    delivery.attempts += 1
    if outcome.ok:
        delivery.status, delivery.delivered_at = "delivered", now
        delivery.next_attempt_at, delivery.last_error = None, None
    else:
        delivery.last_error = outcome.error
        if delivery.attempts >= settings.alerts_max_attempts:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            wait = settings.alerts_retry_base_s * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
    return DeliveryAttempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        created_at=now,
    )
