"""The parts of the demo workload: a record builder on a diurnal/weekly load curve, the clean
base components and the planted inefficiencies, each returning what it planted.

``usage.demo`` documents what each component and plant is and assembles them; this module
holds how they are built, so the documentation and assembly stay readable on their own.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tokenomist.usage.pricing import Pricer, UnitPrices

_T = TypeVar("_T")
CACHE_LIFETIME_S = 300
DUPLICATE_WINDOW_S = 24 * 3600

# Load curve: relative traffic per UTC hour (a working day peaking mid-afternoon) and weekday.
_HOURLY = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.18, 0.35, 0.6, 0.85, 1.0, 1.1, 1.15,
    1.1, 1.15, 1.2, 1.25, 1.15, 1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.2,
]  # fmt: skip
_WEEKDAY = [1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.3]

_PRICER: Pricer | None = None


def shipped_pricer() -> Pricer:
    # Plants are priced on the shipped price data only: user overrides must not move the
    # documented savings.
    global _PRICER
    if _PRICER is None:
        _PRICER = Pricer()
    return _PRICER


def record_cost(pricer: Pricer, r: dict) -> float | None:
    when = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
    return pricer.cost(
        r["provider"],
        r["model"],
        input_tokens=r["input_tokens"],
        cached_input_tokens=r.get("cached_input_tokens", 0),
        cache_write_tokens=r.get("cache_write_tokens", 0),
        output_tokens=r["output_tokens"],
        service_tier=r.get("service_tier", "standard"),
        when=when,
    )


def _fp(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Builder:
    """Emits the records of one component with shared defaults and deterministic ids."""

    def __init__(self, seed: int, name: str, start: datetime, days: int) -> None:
        self.rng = random.Random(f"{seed}:{name}")
        self.seed = seed
        self.name = name
        self.start = start
        self.days = days
        self.records: list[dict] = []

    def times(self, per_day: float) -> Iterator[datetime]:
        """Arrival times following the diurnal/weekly curve, in order. The last hour of the
        window stays empty so sessions, retries and repeats never spill past its end."""
        last = self.start + timedelta(days=self.days, hours=-1)
        out = []
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            expected = per_day * _WEEKDAY[day.weekday()]
            n = max(0, round(self.rng.gauss(expected, math.sqrt(max(expected, 1)))))
            for _ in range(n):
                hour = self.rng.choices(range(24), weights=_HOURLY)[0]
                t = day + timedelta(hours=hour, seconds=self.rng.uniform(0, 3600))
                if t < last:
                    out.append(t)
        out.sort()
        return iter(out)

    def sessions(self, per_day: float, calls: tuple[int, int], gap_s: tuple[int, int]):
        """Bursty arrivals: sessions start on the load curve, calls follow with short gaps."""
        out = []
        for t0 in self.times(per_day):
            t = t0
            for _ in range(self.rng.randint(*calls)):
                out.append(t)
                t += timedelta(seconds=self.rng.uniform(*gap_s))
        out.sort()
        return out

    def add(self, ts: datetime, **fields: Any) -> dict:
        i = len(self.records)
        output = fields.get("output_tokens", 0)
        record = {
            "request_id": f"demo-{self.seed}-{self.name}-{i:06d}",
            "timestamp": iso(ts),
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "status": "success",
            "finish_reason": "stop",
            "max_tokens": None,
            "service_tier": "standard",
            "interactive": True,
            "latency_ms": round(250 + output * self.rng.uniform(8, 22), 1),
            "request_fingerprint": _fp(self.seed, self.name, "req", i),
            "prefix_fingerprint": "",
            "prefix_tokens": 0,
            "metadata": {"demo": self.name},
            **fields,
        }
        self.records.append(record)
        return record

    def user(self, pool: int) -> str:
        # A few heavy users and a long tail, like real products.
        return f"user-{min(int(self.rng.paretovariate(1.2)), pool):03d}"


def _cache_hits(times: list[datetime]) -> list[bool]:
    """For calls sharing one prefix in time order: does each find the prefix cached?"""
    hits, last = [], None
    for t in times:
        hits.append(last is not None and (t - last).total_seconds() <= CACHE_LIFETIME_S)
        last = t
    return hits


# -- the clean base workload ---------------------------------------------------------------


def _assistant_chat(b: Builder) -> None:
    prefix, fp = 1200, _fp(b.seed, b.name, "prefix")
    times = b.sessions(60, (1, 6), (15, 200))
    for t, hit in zip(times, _cache_hits(times), strict=True):
        inp = prefix + b.rng.randint(50, 1800)
        b.add(
            t, provider="openai", model="gpt-4o-mini", project="assistant", feature="chat",
            end_user=b.user(150), input_tokens=inp, output_tokens=b.rng.randint(40, 450),
            cached_input_tokens=prefix if hit else 0,
            prefix_fingerprint=fp, prefix_tokens=prefix,
        )  # fmt: skip


def _report_writer(b: Builder) -> None:
    for t in b.times(25):
        b.add(
            t, provider="openai", model="gpt-4o", project="docs", feature="report-writer",
            end_user=b.user(40), input_tokens=b.rng.randint(6000, 20000),
            output_tokens=b.rng.randint(1500, 4000),
            prefix_fingerprint=_fp(b.seed, b.name, "prefix"), prefix_tokens=300,
        )  # fmt: skip


def _agent_replies(b: Builder) -> None:
    prefix, fp = 3000, _fp(b.seed, b.name, "prefix")
    times = b.sessions(22, (2, 6), (20, 240))
    for t, hit in zip(times, _cache_hits(times), strict=True):
        b.add(
            t, provider="anthropic", model="claude-sonnet-4-5", project="support",
            feature="agent-replies", end_user=b.user(150),
            input_tokens=prefix + b.rng.randint(500, 4000),
            output_tokens=b.rng.randint(400, 1500),
            cached_input_tokens=prefix if hit else 0, cache_write_tokens=0 if hit else prefix,
            prefix_fingerprint=fp, prefix_tokens=prefix,
        )  # fmt: skip


def _long_doc(b: Builder) -> None:
    for t in b.times(12):
        b.add(
            t, provider="google", model="gemini-2.5-pro", project="research",
            feature="long-doc-analysis", end_user=b.user(30),
            input_tokens=b.rng.randint(20000, 120000), output_tokens=b.rng.randint(1000, 4000),
        )  # fmt: skip


def _autocomplete(b: Builder) -> None:
    for t in b.times(90):
        b.add(
            t, provider="google", model="gemini-2.5-flash-lite", project="search",
            feature="autocomplete", end_user=b.user(150),
            input_tokens=b.rng.randint(100, 400), output_tokens=b.rng.randint(10, 60),
        )  # fmt: skip


# -- the plants ------------------------------------------------------------------------------


def _plant_right_sizing(b: Builder, p: Pricer) -> dict[str, Any]:
    sibling = "gpt-4o-mini"
    savings = 0.0
    for t in b.times(150):
        r = b.add(
            t, provider="openai", model="gpt-4o", project="support", feature="ticket-triage",
            end_user=b.user(150), input_tokens=b.rng.randint(800, 2500),
            output_tokens=b.rng.randint(3, 25), max_tokens=50,
            prefix_fingerprint=_fp(b.seed, b.name, "prefix"), prefix_tokens=250,
        )  # fmt: skip
        now, alt = (
            p.cost(
                "openai",
                m,
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                when=t,
            )
            for m in ("gpt-4o", sibling)
        )
        savings += must(now) - must(alt)
    return {"savings": savings, "details": {"sibling_model": sibling}}


def _plant_prompt_caching(b: Builder, p: Pricer) -> dict[str, Any]:
    prefix, fp = 4000, _fp(b.seed, b.name, "prefix")
    times = b.sessions(18, (2, 7), (30, 280))
    prices = must(p.unit_prices("anthropic", "claude-sonnet-4-5"))
    savings = 0.0
    for t, hit in zip(times, _cache_hits(times), strict=True):
        b.add(
            t, provider="anthropic", model="claude-sonnet-4-5", project="sales",
            feature="email-drafter", end_user=b.user(60),
            input_tokens=prefix + b.rng.randint(300, 1500), output_tokens=b.rng.randint(500, 1200),
            prefix_fingerprint=fp, prefix_tokens=prefix,
        )  # fmt: skip
        if hit:
            savings += prefix * (prices.input_mtok - prices.cached_input_mtok) / 1e6
        else:
            savings -= prefix * (prices.cache_write_mtok - prices.input_mtok) / 1e6
    return {
        "savings": savings,
        "details": {"prefix_tokens": prefix, "cache_lifetime_s": CACHE_LIFETIME_S},
    }


def _plant_batch(b: Builder, p: Pricer) -> dict[str, Any]:
    savings = 0.0
    for d in range(b.days):
        night = b.start + timedelta(days=d, hours=2)
        for _ in range(b.rng.randint(80, 120)):
            t = night + timedelta(seconds=b.rng.uniform(0, 2400))
            r = b.add(
                t, provider="openai", model="gpt-4.1", project="analytics",
                feature="nightly-summaries", end_user="", interactive=False,
                input_tokens=b.rng.randint(3000, 10000), output_tokens=b.rng.randint(600, 1500),
                prefix_fingerprint=_fp(b.seed, b.name, "prefix"), prefix_tokens=400,
            )  # fmt: skip
            tokens = {
                "input_tokens": r["input_tokens"],
                "output_tokens": r["output_tokens"],
                "when": t,
            }
            savings += must(p.cost("openai", "gpt-4.1", **tokens)) - must(
                p.cost("openai", "gpt-4.1", service_tier="batch", **tokens)
            )
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {"tier": "batch"}}


def _plant_duplicates(b: Builder, p: Pricer) -> dict[str, Any]:
    savings = 0.0
    events: list[tuple[datetime, dict]] = []
    for i, t in enumerate(b.times(70)):
        base = {
            "input_tokens": b.rng.randint(800, 2000), "fingerprint": _fp(b.seed, b.name, "q", i),
            "user": b.user(150),
        }  # fmt: skip
        events.append((t, {**base, "repeat": False}))
        if b.rng.random() < 1 / 3:
            for _ in range(b.rng.randint(1, 3)):
                events.append(
                    (t + timedelta(seconds=b.rng.uniform(20, 600)), {**base, "repeat": True})
                )
    events.sort(key=lambda e: e[0])
    for t, e in events:
        r = b.add(
            t, provider="openai", model="gpt-4.1-mini", project="search", feature="query-rewrite",
            end_user=e["user"], input_tokens=e["input_tokens"],
            output_tokens=b.rng.randint(100, 400), request_fingerprint=e["fingerprint"],
            prefix_fingerprint=_fp(b.seed, b.name, "prefix"), prefix_tokens=300,
        )  # fmt: skip
        if e["repeat"]:
            savings += must(record_cost(p, r))
    return {"savings": savings, "details": {"window_s": DUPLICATE_WINDOW_S}}


def _plant_errors(b: Builder, p: Pricer) -> dict[str, Any]:
    savings = 0.0
    for t in b.times(90):
        common = {
            "provider": "openai", "model": "gpt-4.1-mini", "project": "agents",
            "feature": "tool-runner", "end_user": b.user(80),
            "input_tokens": b.rng.randint(4000, 16000),
            "request_fingerprint": _fp(b.seed, b.name, "req", t.isoformat()),
            "prefix_fingerprint": _fp(b.seed, b.name, "prefix"), "prefix_tokens": 350,
        }  # fmt: skip
        if b.rng.random() < 0.12:
            r = b.add(
                t, **common, status="error", finish_reason="error",
                output_tokens=b.rng.randint(0, 200),
            )  # fmt: skip
            savings += must(record_cost(p, r))
            t += timedelta(seconds=b.rng.uniform(2, 20))
        b.add(t, **common, output_tokens=b.rng.randint(150, 600))
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {}}


def _plant_truncation(b: Builder, p: Pricer) -> dict[str, Any]:
    savings = 0.0
    limit = 256
    for t in b.times(35):
        common = {
            "provider": "openai", "model": "gpt-4.1-mini", "project": "docs",
            "feature": "changelog-generator", "end_user": b.user(40),
            "input_tokens": b.rng.randint(2000, 8000),
            "request_fingerprint": _fp(b.seed, b.name, "req", t.isoformat()),
            "prefix_fingerprint": _fp(b.seed, b.name, "prefix"), "prefix_tokens": 500,
        }  # fmt: skip
        if b.rng.random() < 0.25:
            r = b.add(t, **common, output_tokens=limit, max_tokens=limit, finish_reason="length")
            savings += must(record_cost(p, r))
            retry = t + timedelta(seconds=b.rng.uniform(3, 60))
            b.add(retry, **common, output_tokens=b.rng.randint(300, 700), max_tokens=1024)
        else:
            b.add(t, **common, output_tokens=b.rng.randint(80, 240), max_tokens=limit)
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {"max_tokens": limit}}


def _plant_arbitrage(b: Builder, p: Pricer) -> dict[str, Any]:
    model = "mixtral-8x7b-instruct"
    offers = [(prov, prices) for prov, prices in p.offers(model) if prov != "mistral"]
    savings = 0.0
    cheapest: dict[str, float] = {}
    for t in b.times(60):
        r = b.add(
            t, provider="mistral", model=model, project="internal-tools",
            feature="sql-assistant", end_user=b.user(25),
            input_tokens=b.rng.randint(2000, 8000), output_tokens=b.rng.randint(100, 600),
        )  # fmt: skip
        now = must(record_cost(p, r))
        best_provider, best = _cheapest(offers, r)
        cheapest[best_provider] = cheapest.get(best_provider, 0.0) + (now - best)
        savings += now - best
    return {"savings": savings, "details": {"cheaper_providers": sorted(cheapest)}}


def _cheapest(offers: list[tuple[str, UnitPrices]], r: dict) -> tuple[str, float]:
    costs = [
        (prices.cost(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"]), prov)
        for prov, prices in offers
    ]
    cost, prov = min(costs)
    return prov, cost


def must(value: _T | None) -> _T:
    if value is None:
        raise RuntimeError("a demo model is missing from the price data")
    return value


BASE_COMPONENTS: list[tuple[str, Callable[[Builder], None]]] = [
    ("chat", _assistant_chat),
    ("report", _report_writer),
    ("agent", _agent_replies),
    ("longdoc", _long_doc),
    ("autocomplete", _autocomplete),
]

PLANTS: list[tuple[str, str, Callable[[Builder, Pricer], dict[str, Any]]]] = [
    ("model_right_sizing", "Move ticket triage from gpt-4o to gpt-4o-mini", _plant_right_sizing),
    ("prompt_caching", "Cache the email-drafter playbook prefix", _plant_prompt_caching),
    ("batch_tier", "Run nightly summaries on the Batch API", _plant_batch),
    ("duplicate_requests", "Cache responses of repeated query rewrites", _plant_duplicates),
    ("error_waste", "Stop paying for failed tool-runner calls", _plant_errors),
    ("truncation", "Raise max_tokens for the changelog generator", _plant_truncation),
    ("provider_arbitrage", "Buy Mixtral 8x7B from a cheaper provider", _plant_arbitrage),
]
