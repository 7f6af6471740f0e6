"""What a channel is sent for a budget event: the signed webhook body and the Slack text."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from tokenomist.alerts.delivery import request_for
from tokenomist.alerts.models import AlertChannel, AlertEvent

EVENT = AlertEvent(
    id="e1", org_id="o1", type="budget.threshold", created_at=datetime(2026, 12, 3, tzinfo=UTC),
    data={"budget_name": "app monthly", "threshold": 0.8, "amount_usd": 1000.0,
          "spent_usd": 812.5, "period": "month", "forecast_usd": 1100.0},
)  # fmt: skip


def test_webhook_body_is_the_event_signed_with_the_channel_secret() -> None:
    channel = AlertChannel(kind="webhook", url="http://x/", secret="whsec_s")
    body, headers = request_for(EVENT, channel)
    assert json.loads(body) == {
        "id": "e1", "type": "budget.threshold", "org_id": "o1",
        "created_at": "2026-12-03T00:00:00Z", "data": EVENT.data,
    }  # fmt: skip
    digest = hmac.new(b"whsec_s", body, hashlib.sha256).hexdigest()
    assert headers["X-Tokenomist-Signature"] == f"sha256={digest}"
    assert headers["X-Tokenomist-Event-Id"] == "e1"


def test_slack_gets_a_sentence_with_the_figures() -> None:
    body, headers = request_for(EVENT, AlertChannel(kind="slack", url="http://x/"))
    assert json.loads(body) == {
        "text": ":warning: Budget *app monthly* passed 80% of $1,000.00 this month: $812.50 spent."
    }
    assert "X-Tokenomist-Signature" not in headers
