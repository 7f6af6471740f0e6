"""FOCUS 1.2 Cost and Usage export of an org's LLM usage.

One row per charge period (UTC day) x provider x model x service tier x (project, feature,
end user) x token type (input, cached input, cache write, output; a per-request fee where the
price list has one). Reasoning tokens are billed as output tokens by every provider our price
data covers, so they stay inside the output row (their count is in ``x_ReasoningTokens``).

Costs are the stored ``cost_usd`` of the rows (what ``/api/v1/usage/summary`` adds up), split
across token types in proportion to each type's list price: the export's BilledCost sums to the
summary's ``cost_usd`` for the same range, and the per-type split follows the price list.

FOCUS forbids null costs and a $0 row would claim free usage, so unpriced calls are left out of
the cost rows; how many there are is returned with the export (``Export.unpriced_requests``:
the HTTP header ``X-Tokenomist-Unpriced-Requests``, the CLI's summary line).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tokenomist.kit.analytics import OrgAnalytics
from tokenomist.usage.pricing import Pricer, UnitPrices

FOCUS_VERSION = "1.2"
CHUNK_DAYS = 7  # one analytics query per week of the range: memory stays flat on long ranges

_TS = "%Y-%m-%dT%H:%M:%SZ"
_SERVICE_NAMES = {
    "openai": "OpenAI API",
    "anthropic": "Anthropic API",
    "google": "Gemini API",
    "azure": "Azure OpenAI Service",
    "aws": "Amazon Bedrock",
    "bedrock": "Amazon Bedrock",
    "mistral": "Mistral AI API",
}
# (SkuId suffix, ChargeDescription, quantity column, UnitPrices attribute, per-unit divisor)
_TOKEN_TYPES = (
    ("input", "input tokens", "uncached_input", "input_mtok", 1_000_000),
    ("cached-input", "cached input tokens (cache reads)", "cached_input", "cached_input_mtok", 1e6),
    ("cache-write", "cache write tokens", "cache_write", "cache_write_mtok", 1_000_000),
    ("output", "output tokens (reasoning included)", "output", "output_mtok", 1_000_000),
)

COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
    "PricingCurrency",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceId", "SubAccountId", "SubAccountName",
    "SubAccountType", "Tags", "x_ServiceTier", "x_Requests", "x_ReasoningTokens",
)  # fmt: skip
_NUMERIC = {
    "BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "ListCost", "ListUnitPrice", "PricingQuantity", "x_Requests", "x_ReasoningTokens",
}  # fmt: skip

_GROUPS_SQL = """
SELECT toString(toDate(timestamp)) AS day, provider, model, service_tier, project, feature,
       end_user, count() AS requests,
       sum(input_tokens - cached_input_tokens - cache_write_tokens) AS uncached_input,
       sum(cached_input_tokens) AS cached_input, sum(cache_write_tokens) AS cache_write,
       sum(output_tokens) AS output, sum(reasoning_tokens) AS reasoning,
       sum(cost_usd) AS billed_usd
FROM {usage}
WHERE cost_usd IS NOT NULL
  AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
GROUP BY day, provider, model, service_tier, project, feature, end_user
ORDER BY day, provider, model, service_tier, project, feature, end_user
"""
_UNPRICED_SQL = """
SELECT countIf(cost_usd IS NULL) AS n, count() AS calls,
       toString(min(timestamp)) AS first, toString(max(timestamp)) AS last
FROM {usage}
WHERE timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
"""


def _ch(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass(frozen=True)
class Export:
    """A range's export: how many calls were left out unpriced, and the rows as a stream."""

    org_id: str
    start: datetime
    end: datetime
    unpriced_requests: int
    usage: OrgAnalytics
    pricer: Pricer

    async def rows(self) -> AsyncIterator[list[dict[str, Any]]]:
        """FOCUS rows, one list per chunk of days (never the whole range in memory)."""
        cursor = self.start
        while cursor < self.end:
            upper = min(cursor + timedelta(days=CHUNK_DAYS), self.end)
            groups = await self.usage.query(_GROUPS_SQL, {"start": _ch(cursor), "end": _ch(upper)})
            rows = [row for group in groups for row in _rows_of(self.org_id, group, self.pricer)]
            if rows:
                yield rows
            cursor = upper


async def prepare(usage: OrgAnalytics, pricer: Pricer, start: datetime, end: datetime) -> Export:
    """The export of [start, end), walked only over the days that hold data: a range of
    centuries over a month of usage costs a month's queries, not twelve thousand."""
    found = (await usage.query(_UNPRICED_SQL, {"start": _ch(start), "end": _ch(end)}))[0]
    if not int(found["calls"]):
        return Export(usage.org_id, start, start, 0, usage, pricer)
    first = _parsed(found["first"]).replace(hour=0, minute=0, second=0, microsecond=0)
    last = _parsed(found["last"]) + timedelta(milliseconds=1)
    return Export(usage.org_id, max(start, first), min(end, last), int(found["n"]), usage, pricer)


def _parsed(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _weights(group: dict[str, Any], prices: UnitPrices | None) -> list[tuple[tuple, float, float]]:
    """(token type, quantity, list cost) for each billed type with a non-zero quantity."""
    out = []
    for spec in _TOKEN_TYPES:
        quantity = float(group[spec[2]] or 0)
        if quantity <= 0:
            continue
        unit = getattr(prices, spec[3]) / spec[4] if prices else 0.0
        out.append((spec, quantity, quantity * unit))
    requests = float(group["requests"])
    if prices is not None and prices.request_usd > 0:
        spec = ("request", "request fee", "requests", "request_usd", 1)
        out.append((spec, requests, requests * prices.request_usd))
    return out


def _rows_of(org_id: str, group: dict[str, Any], pricer: Pricer) -> Iterator[dict[str, Any]]:
    """One FOCUS row per charged part (input, cached, output... tokens; requests) of a
    (day, provider, model, tier, labels) group, the stored cost split across them.

    Long on purpose: most of it is the one literal row, every FOCUS column in order, which
    reads best whole next to the spec; splitting it would only scatter the columns."""
    day = datetime.strptime(group["day"], "%Y-%m-%d").replace(tzinfo=UTC)
    provider, model, tier = group["provider"], group["model"], group["service_tier"] or "standard"
    prices = pricer.unit_prices(provider, model, tier, day)
    cost = float(group["billed_usd"])
    parts = _weights(group, prices)
    total_list = sum(p[2] for p in parts)
    total_qty = sum(p[1] for p in parts if p[0][0] != "request")
    month_start = day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    tags = {k: group[k] for k in ("project", "feature", "end_user") if group[k]} | {
        "service_tier": tier
    }
    for spec, quantity, list_cost in parts:
        # The stored cost is split by list price; without a price list (an override that
        # disappeared), by quantity — either way the parts add up to the stored cost.
        if total_list > 0:
            share = list_cost / total_list
        else:
            share = quantity / total_qty if total_qty and spec[0] != "request" else 0.0
        billed = cost * share
        unit = "Requests" if spec[0] == "request" else "Tokens"
        sku = f"{provider}/{model}/{spec[0]}"
        yield {
            "BilledCost": billed,
            "BillingAccountId": org_id,
            "BillingAccountName": org_id,
            "BillingAccountType": "Organization",
            "BillingCurrency": "USD",
            "BillingPeriodEnd": month_end.strftime(_TS),
            "BillingPeriodStart": month_start.strftime(_TS),
            "ChargeCategory": "Usage",
            "ChargeClass": None,
            "ChargeDescription": f"{model} {spec[1]} ({tier} tier)",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": (day + timedelta(days=1)).strftime(_TS),
            "ChargePeriodStart": day.strftime(_TS),
            "ConsumedQuantity": quantity,
            "ConsumedUnit": unit,
            "ContractedCost": billed,
            "ContractedUnitPrice": billed / quantity,
            "EffectiveCost": billed,
            # The provider bills the org directly: issuer = provider (a different issuer would
            # make it a marketplace charge, whose BilledCost FOCUS requires to be 0).
            "InvoiceId": None,
            "InvoiceIssuerName": provider,
            "ListCost": list_cost if prices else billed,
            "ListUnitPrice": (list_cost / quantity) if prices else billed / quantity,
            "PricingCategory": "Standard",
            "PricingCurrency": "USD",
            "PricingQuantity": quantity,
            "PricingUnit": unit,
            "ProviderName": provider,
            "PublisherName": provider,
            "RegionId": None,
            "RegionName": None,
            "ResourceId": None,
            "ResourceName": None,
            "ResourceType": None,
            "ServiceCategory": "AI and Machine Learning",
            "ServiceName": _SERVICE_NAMES.get(provider, f"{provider} API"),
            "ServiceSubcategory": "Generative AI",
            "SkuId": sku,
            "SkuMeter": spec[1],
            "SkuPriceId": f"{sku}/{tier}",
            "SubAccountId": group["project"] or None,
            "SubAccountName": group["project"] or None,
            "SubAccountType": "Project" if group["project"] else None,
            "Tags": json.dumps(tags, sort_keys=True),
            "x_ServiceTier": tier,
            "x_Requests": int(group["requests"]),
            "x_ReasoningTokens": int(group["reasoning"] or 0) if spec[0] == "output" else 0,
        }


# -- encoders ------------------------------------------------------------------------------


def _csv_text(rows: list[dict[str, Any]], header: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else _fmt(v)) for k, v in row.items()})
    return buf.getvalue().encode()


def _fmt(value: Any) -> Any:
    # repr keeps every digit a float has: the sums a FinOps tool computes match ours.
    return repr(value) if isinstance(value, float) else value


async def csv_stream(export: Export) -> AsyncIterator[bytes]:
    yield _csv_text([], header=True)
    async for rows in export.rows():
        yield _csv_text(rows, header=False)


_SCHEMA = pa.schema([(c, pa.float64() if c in _NUMERIC else pa.string()) for c in COLUMNS])
for _ts_col in ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"):
    _SCHEMA = _SCHEMA.set(
        _SCHEMA.get_field_index(_ts_col), pa.field(_ts_col, pa.timestamp("s", tz="UTC"))
    )


def _arrow(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {}
    for field in _SCHEMA:
        values = [r[field.name] for r in rows]
        if pa.types.is_timestamp(field.type):
            values = [datetime.strptime(v, _TS).replace(tzinfo=UTC) for v in values]
        columns[field.name] = pa.array(values, field.type)
    return pa.table(columns, schema=_SCHEMA)


class _Sink(io.RawIOBase):
    """A write-only file that hands over what was written so far (for streaming Parquet)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


async def parquet_stream(export: Export) -> AsyncIterator[bytes]:
    sink = _Sink()
    writer = pq.ParquetWriter(sink, _SCHEMA)
    try:
        async for rows in export.rows():
            writer.write_table(_arrow(rows))  # one row group per chunk of days
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


STREAMS = {
    "csv": (csv_stream, "text/csv"),
    "parquet": (parquet_stream, "application/vnd.apache.parquet"),
}
