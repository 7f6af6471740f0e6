"""Pricing of LLM usage, on the prices that ship with genai-prices plus a user override file.

Token semantics (the same as genai-prices): ``input_tokens`` is the whole prompt, *including*
cache-read and cache-write tokens. The uncached part is billed at the input price, cache reads
at the cache-read price and cache writes at the cache-write price; where a provider does not
bill reads or writes separately (no such price in the data) they fall back to the input price.

An unknown provider/model gives ``None`` — never 0 — so callers store the row as *unpriced*.

Overrides (``settings.price_overrides_file``, TOML) carry negotiated prices in USD per million
tokens and win over the price data; they can also price models the data does not know::

    [[price]]
    provider = "openai"
    model = "gpt-4o"
    service_tier = "standard"      # optional; omitted = every tier
    input_mtok = 2.0
    output_mtok = 8.0
    cached_input_mtok = 0.5        # optional; default: the input price
    cache_write_mtok = 2.0         # optional; default: the input price
    note = "2026 enterprise agreement"   # optional, recorded in the price source
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices import types as gp_types

from tokenomist.usage import tier_relations

SERVICE_TIERS: tuple[str, ...] = ("standard", "batch", "flex", "priority")

# genai-prices selects tier prices through a price context.
_TIER_CONTEXT: dict[str, dict[str, str] | None] = {
    "standard": None,
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}

# Names that sources use for a provider (OTel gen_ai.provider.name / gen_ai.system, LiteLLM,
# exports) mapped to the provider ids of the price data.
PROVIDER_ALIASES: dict[str, str] = {
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure_openai": "azure",
    "azure_ai": "azure",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "google_genai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "ibm.watsonx.ai": "ibm",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}

PRICE_DATA_VERSION = f"genai-prices {genai_prices.__version__}"


def normalize_provider(name: str | None) -> str:
    """A provider name as the price data spells it (lower case, aliases resolved)."""
    key = (name or "").strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def normalize_tier(tier: str | None) -> str:
    """``default``/``auto``/empty mean the standard tier (OpenAI's names for it)."""
    value = (tier or "").strip().lower()
    return "standard" if value in ("", "default", "auto", "standard", "on_demand") else value


@dataclass(frozen=True)
class UnitPrices:
    """USD per million tokens (and per request, where a model has a request fee).

    ``tiers`` holds long-context prices: ``(threshold, prices)`` pairs, ascending, where
    ``prices`` apply to *all* tokens of a call whose ``input_tokens`` exceed ``threshold``
    (the cliff model the providers use).
    """

    input_mtok: float
    cached_input_mtok: float
    cache_write_mtok: float
    output_mtok: float
    source: str
    request_usd: float = 0.0
    tiers: tuple[tuple[int, UnitPrices], ...] = field(default=(), compare=False)

    def for_input(self, input_tokens: int) -> UnitPrices:
        """The prices that apply to a call with this many input tokens."""
        chosen = self
        for threshold, prices in self.tiers:
            if input_tokens > threshold:
                chosen = prices
        return chosen

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        p = self.for_input(input_tokens)
        uncached = input_tokens - cached_input_tokens - cache_write_tokens
        if uncached < 0:
            raise ValueError(
                f"cached ({cached_input_tokens}) + cache-write ({cache_write_tokens}) tokens "
                f"exceed input_tokens ({input_tokens})"
            )
        return (
            uncached * p.input_mtok
            + cached_input_tokens * p.cached_input_mtok
            + cache_write_tokens * p.cache_write_mtok
            + output_tokens * p.output_mtok
        ) / 1_000_000 + p.request_usd


@dataclass(frozen=True)
class PriceOverride:
    provider: str
    model: str
    service_tier: str | None
    prices: UnitPrices


class PriceOverrideError(ValueError):
    """The override file is unreadable or malformed (the message names the file and entry)."""


def load_overrides(path: Path) -> list[PriceOverride]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PriceOverrideError(f"price override file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PriceOverrideError(f"price override file {path} is unreadable: {exc}") from exc
    entries = raw.get("price", [])
    if not isinstance(entries, list):
        raise PriceOverrideError(f"{path}: 'price' must be an array of tables ([[price]])")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: [[price]] #{i + 1}"
        try:
            provider = normalize_provider(str(entry["provider"]))
            model = str(entry["model"]).strip().lower()
            input_mtok = _non_negative(entry["input_mtok"], "input_mtok")
            output_mtok = _non_negative(entry["output_mtok"], "output_mtok")
            cached = _non_negative(entry.get("cached_input_mtok", input_mtok), "cached_input_mtok")
            write = _non_negative(entry.get("cache_write_mtok", input_mtok), "cache_write_mtok")
        except KeyError as exc:
            raise PriceOverrideError(f"{where}: missing field {exc.args[0]!r}") from exc
        except ValueError as exc:
            raise PriceOverrideError(f"{where}: {exc}") from exc
        tier = entry.get("service_tier")
        if tier is not None:
            tier = normalize_tier(str(tier))
            if tier not in SERVICE_TIERS:
                raise PriceOverrideError(
                    f"{where}: service_tier {tier!r} is not one of {', '.join(SERVICE_TIERS)}"
                )
        note = entry.get("note")
        source = f"override {path.name}" + (f" ({note})" if note else "")
        out.append(
            PriceOverride(
                provider=provider,
                model=model,
                service_tier=tier,
                prices=UnitPrices(input_mtok, cached, write, output_mtok, source),
            )
        )
    return out


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class Pricer:
    """Prices usage. Built once per process; lookups are cached per (provider, model, tier)."""

    def __init__(self, overrides_file: Path | None = None) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self.overrides_file = overrides_file
        self._overrides = load_overrides(overrides_file) if overrides_file else []
        self._lookup: dict[tuple[str, str], tuple[gp_types.Provider, gp_types.ModelInfo] | None]
        self._lookup = {}
        self._static: dict[tuple[str, str, str, datetime | None], UnitPrices | None] = {}
        self._offers: dict[str, list[tuple[str, UnitPrices]]] = {}
        self._relations = tier_relations.shipped(SERVICE_TIERS[1:])
        stamp = "auto-updated" if self._snapshot.from_auto_update else "bundled"
        self.snapshot = f"{PRICE_DATA_VERSION} ({stamp})"

    # -- lookups -------------------------------------------------------------------------

    def _find(
        self, provider: str, model: str
    ) -> tuple[gp_types.Provider, gp_types.ModelInfo] | None:
        key = (provider, model)
        if key not in self._lookup:
            found = None
            if provider and model:
                try:
                    found = self._snapshot.find_provider_model(model, None, provider, None)
                except LookupError:
                    found = None
            self._lookup[key] = found
        return self._lookup[key]

    def _override(self, provider: str, model: str, tier: str) -> UnitPrices | None:
        match = None
        for o in self._overrides:
            if o.provider == provider and o.model == model:
                if o.service_tier == tier:
                    return o.prices
                if o.service_tier is None:
                    match = o.prices
        return match

    def time_granularity(
        self, provider: str, model: str, service_tier: str = "standard"
    ) -> str | None:
        """How finely a call's time matters to its price: None (not at all), "day" (dated
        price changes) or "minute" (off-peak hours). Bulk pricing looks prices up once per
        (group, day or minute) instead of once per group."""
        provider, model = normalize_provider(provider), model.strip().lower()
        tier = normalize_tier(service_tier)
        if self._override(provider, model, tier) is not None:
            return None
        found = self._find(provider, model)
        return None if found is None else self._granularity(found[0], found[1], tier)

    def _granularity(
        self, gp_provider: gp_types.Provider, info: gp_types.ModelInfo, tier: str
    ) -> str | None:
        granularity = _granularity(info, _TIER_CONTEXT.get(tier))
        if granularity is None and self._relations.covers(gp_provider.id, tier):
            return "day"  # the tier relation in force depends on the call's date
        return granularity

    def unit_prices(
        self,
        provider: str,
        model: str,
        service_tier: str = "standard",
        when: datetime | None = None,
    ) -> UnitPrices | None:
        """Prices for a call, or None when the model is unknown (the call is unpriced).

        A tier the price data lists no price for at ``when`` is priced by the shipped tier
        relation in force then (standard x factor, e.g. OpenAI batch x 0.5 from 2024-04-15);
        without one (before its start, or a provider/tier it does not cover) at the standard
        price. Either way the source says so."""
        provider = normalize_provider(provider)
        model = model.strip().lower()
        tier = normalize_tier(service_tier)
        if tier not in SERVICE_TIERS:
            tier = "standard"
        override = self._override(provider, model, tier)
        if override is not None:
            return override
        found = self._find(provider, model)
        if found is None:
            return None
        gp_provider, info = found
        granularity = self._granularity(gp_provider, info, tier)
        bucket: datetime | None = None
        if granularity is not None:
            when = (when or datetime.now(UTC)).astimezone(UTC)
            bucket = when.replace(second=0, microsecond=0)
            if granularity == "day":
                bucket = bucket.replace(hour=12, minute=0)
        key = (provider, model, tier, bucket)
        if key not in self._static:
            if len(self._static) > 200_000:  # bounded: time buckets accumulate
                self._static.clear()
            self._static[key] = self._from_data(gp_provider, info, tier, bucket)
        return self._static[key]

    def _from_data(
        self,
        gp_provider: gp_types.Provider,
        info: gp_types.ModelInfo,
        tier: str,
        when: datetime | None,
    ) -> UnitPrices | None:
        when = when or datetime.now(UTC)
        context = _TIER_CONTEXT[tier]
        listed = context is None or self._lists_variant_at(info, context, when)
        mp = info.get_prices(when, context if listed else None)
        source = f"{self.snapshot} {gp_provider.id}/{info.id}"
        factor = 1.0
        if tier != "standard" and listed:
            source += f" {tier}"
        elif tier != "standard":
            relation = self._relations.at(gp_provider.id, tier, when)
            if relation is not None:
                source += f" {relation.label()}"
                factor = relation.factor
            else:
                source += f" ({tier} price not listed; standard used)"
        base = _prices_at(mp, None, source)
        if base is None:
            return None
        tiered = [v for k in _PRICE_KEYS if isinstance(v := getattr(mp, k), gp_types.TieredPrices)]
        thresholds = sorted({t.start for v in tiered for t in v.tiers})
        tiers = tuple((start, _prices_at(mp, start, source)) for start in thresholds)
        prices = replace(base, tiers=tuple((s, p) for s, p in tiers if p is not None))
        return prices if factor == 1.0 else _scaled(prices, factor)

    @staticmethod
    def _lists_variant_at(
        info: gp_types.ModelInfo, context: dict[str, str], when: datetime
    ) -> bool:
        """Whether the data lists this tier's price on ``when``'s date: a variant that has
        started (a time-of-day variant counts: it is listed, only cheaper at some hours)."""
        return any(
            v.when == context
            and not (
                isinstance(v.constraint, gp_types.StartDateConstraint)
                and not v.constraint.active(when)
            )
            for v in info.price_variants or ()
        )

    @staticmethod
    def _has_variant(info: gp_types.ModelInfo, context: dict[str, str]) -> bool:
        return any(v.when == context for v in info.price_variants or ())

    def supports_tier(self, provider: str, model: str, tier: str) -> bool:
        """Whether the price data (or an override) lists a price for this tier."""
        provider, model, tier = normalize_provider(provider), model.strip().lower(), tier.lower()
        if tier == "standard":
            return self.unit_prices(provider, model) is not None
        if any(
            o.provider == provider and o.model == model and o.service_tier == tier
            for o in self._overrides
        ):
            return True
        found = self._find(provider, model)
        context = _TIER_CONTEXT.get(tier)
        return found is not None and context is not None and self._has_variant(found[1], context)

    def cost(
        self,
        provider: str,
        model: str,
        *,
        input_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        output_tokens: int,
        service_tier: str = "standard",
        when: datetime | None = None,
    ) -> float | None:
        """USD for one call; None when the model is unknown. ``input_tokens`` includes the
        cached and cache-write tokens."""
        prices = self.unit_prices(provider, model, service_tier, when)
        if prices is None:
            return None
        return prices.cost(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
        )

    def offers(self, model: str) -> list[tuple[str, UnitPrices]]:
        """Every provider whose own price list offers this model id (no cross-provider
        fallback), with its standard prices; providers listing it without token prices are
        left out. Sorted cheapest input price first."""
        ref = model.strip().lower()
        if ref not in self._offers:  # a scan of every provider's list: once per model
            self._offers[ref] = self._find_offers(ref)
        return list(self._offers[ref])

    def _find_offers(self, ref: str) -> list[tuple[str, UnitPrices]]:
        out: list[tuple[str, UnitPrices]] = []
        for gp_provider in self._snapshot.providers:
            info = next((m for m in gp_provider.models if m.is_match(ref)), None)
            if info is None:
                continue
            prices = self.unit_prices(gp_provider.id, ref)
            if prices is not None:
                out.append((gp_provider.id, prices))
        seen = {p for p, _ in out}
        for o in self._overrides:
            if o.model == ref and o.service_tier in (None, "standard") and o.provider not in seen:
                out.append((o.provider, o.prices))
                seen.add(o.provider)
        out.sort(key=lambda item: (item[1].input_mtok, item[1].output_mtok, item[0]))
        return out


def _granularity(info: gp_types.ModelInfo, context: dict[str, str] | None) -> str | None:
    """None, "day" or "minute": what part of the request time selects this model's price in
    this tier (dated price lists and tier variants; off-peak hours)."""
    constraints = []
    if isinstance(info.prices, list):
        constraints += [c.constraint for c in info.prices if c.constraint is not None]
    if context is not None:
        constraints += [
            v.constraint
            for v in info.price_variants or ()
            if v.constraint is not None and all(context.get(k) == x for k, x in v.when.items())
        ]
    if any(isinstance(c, gp_types.TimeOfDateConstraint) for c in constraints):
        return "minute"
    return "day" if constraints else None


_PRICE_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")


def _scaled(prices: UnitPrices, factor: float) -> UnitPrices:
    """Every unit price (long-context tiers too) times ``factor``."""
    return replace(
        prices,
        input_mtok=prices.input_mtok * factor,
        cached_input_mtok=prices.cached_input_mtok * factor,
        cache_write_mtok=prices.cache_write_mtok * factor,
        output_mtok=prices.output_mtok * factor,
        request_usd=prices.request_usd * factor,
        tiers=tuple((t, _scaled(p, factor)) for t, p in prices.tiers),
    )


def _price_value(value: Any, threshold: int | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, gp_types.TieredPrices):
        chosen: Decimal = value.base
        if threshold is not None:
            for t in value.tiers:
                if t.start <= threshold:
                    chosen = t.price
        return float(chosen)
    return float(value)


def _prices_at(mp: gp_types.ModelPrice, threshold: int | None, source: str) -> UnitPrices | None:
    input_mtok = _price_value(mp.input_mtok, threshold)
    output_mtok = _price_value(mp.output_mtok, threshold)
    if input_mtok is None or output_mtok is None:
        return None
    cached = _price_value(mp.cache_read_mtok, threshold)
    write = _price_value(mp.cache_write_mtok, threshold)
    requests_k = _price_value(getattr(mp, "requests_kcount", None), threshold)
    return UnitPrices(
        input_mtok=input_mtok,
        cached_input_mtok=input_mtok if cached is None else cached,
        cache_write_mtok=input_mtok if write is None else write,
        output_mtok=output_mtok,
        source=source,
        request_usd=(requests_k or 0.0) / 1000,
    )


@lru_cache(maxsize=8)
def _pricer_for(overrides_file: Path | None, mtime: float | None) -> Pricer:
    return Pricer(overrides_file)


def get_pricer(settings: Any) -> Pricer:
    """The process's Pricer for these settings (rebuilt when the override file changes)."""
    path = getattr(settings, "price_overrides_file", None)
    mtime = None
    if path is not None:
        path = Path(path).resolve()
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = None  # Pricer raises the clear error
    return _pricer_for(path, mtime)
