"""A realistic synthetic LLM workload with planted, documented inefficiencies.

``generate(seed, days, end, planted)`` returns canonical usage records (DESIGN §4) for one
fictional company over ``days`` days ending at ``end``: four providers, a dozen features in
eight projects, ~150 end users, a diurnal and weekly load curve. Deterministic for a seed and
``end``; request ids depend on the seed only, so loading the workload twice changes nothing.

The clean base workload (present with and without plants) gives no strategy anything to find:

- ``assistant/chat`` — openai gpt-4o-mini, simple calls, 1,200-token system prompt that the
  provider caches automatically (cache reads whenever the same prefix was used < 5 min before).
- ``docs/report-writer`` — openai gpt-4o, long inputs and long outputs (not simple).
- ``support/agent-replies`` — anthropic claude-sonnet-4-5 with prompt caching in use: every
  call within 5 min of the previous one reads the 3,000-token prefix, the others write it.
- ``research/long-doc-analysis`` — google gemini-2.5-pro, 20k-120k-token documents.
- ``search/autocomplete`` — google gemini-2.5-flash-lite, tiny calls.

All of it is interactive (``interactive=true`` with an end user), succeeds, has unique request
fingerprints, no truncation, and runs on models no other provider in the price data sells
cheaper. Cache use there is already exactly what a 5-minute cache lifetime allows.

Plants (``planted=True``), one per DESIGN §6 strategy, each in its own (project, feature).
``savings_usd`` is computed here, from exactly what was planted, with the Pricer:

- ``model_right_sizing`` — ``support/ticket-triage`` on openai **gpt-4o**: inputs 800-2,500
  tokens, outputs 3-25 tokens (a classifier). Savings = cost on gpt-4o - cost of the same
  tokens on its sibling **gpt-4o-mini**.
- ``prompt_caching`` — ``sales/email-drafter`` on anthropic claude-sonnet-4-5: a shared
  4,000-token playbook prefix (``prefix_fingerprint``/``prefix_tokens``) sent with no cache
  use. Calls come in working sessions. Savings with a 300 s cache lifetime, calls of one
  prefix in time order: a call within 300 s of the previous call reads the cache and saves
  ``prefix_tokens x (input - cache-read price)``; any other call writes it and costs
  ``prefix_tokens x (cache-write - input price)`` extra.
- ``batch_tier`` — ``analytics/nightly-summaries`` on openai gpt-4.1: ``interactive=false``,
  no end user, a burst every night at 02:00 UTC, long outputs. Savings = standard cost -
  batch-tier cost.
- ``duplicate_requests`` — ``search/query-rewrite`` on openai gpt-4.1-mini: a third of the
  requests are repeated 1-3 times within 10 minutes with the same ``request_fingerprint``.
  Savings = cost of the repeats (every occurrence after the first successful one).
- ``error_waste`` — ``agents/tool-runner`` on openai gpt-4.1-mini: 12 % of calls fail
  (``status=error``) after being billed their input and a partial output; each failure is
  retried a few seconds later. Savings = cost of the failed calls.
- ``truncation`` — ``docs/changelog-generator`` on openai gpt-4.1-mini with ``max_tokens=256``:
  a quarter of the calls stop at ``finish_reason=length`` and are retried within a minute with
  ``max_tokens=1024``. Savings = cost of the truncated attempts.
- ``provider_arbitrage`` — ``internal-tools/sql-assistant`` on **mistral**
  ``mixtral-8x7b-instruct`` (openrouter sells it for less). Savings = its cost - the cost of the
  same tokens at the cheapest provider offering that model in the price data (``Pricer.offers``).

Conventions the plants rely on: ``request_fingerprint`` hashes the prompt (messages, tools,
model), not generation parameters, so a retry with a larger ``max_tokens`` keeps it. A repeat
is a *duplicate* only when its earlier occurrence succeeded with a complete answer — retries
after an error or a ``length`` stop (plants above) are not duplicates, because a response
cache could not have served them.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tokenomist.usage.pricing import Pricer, UnitPrices

if TYPE_CHECKING:
    from tokenomist.kit.resources import Resources

_T = TypeVar("_T")
STRATEGY_IDS: tuple[str, ...] = (
    "model_right_sizing",
    "prompt_caching",
    "batch_tier",
    "duplicate_requests",
    "error_waste",
    "truncation",
    "provider_arbitrage",
)
CACHE_LIFETIME_S = 300
DUPLICATE_WINDOW_S = 24 * 3600
DEMO_EMAIL = "demo@tokenomist.local"
DEMO_ORG = "Demo Co"

# Load curve: relative traffic per UTC hour (a working day peaking mid-afternoon) and weekday.
_HOURLY = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.18, 0.35, 0.6, 0.85, 1.0, 1.1, 1.15,
    1.1, 1.15, 1.2, 1.25, 1.15, 1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.2,
]  # fmt: skip
_WEEKDAY = [1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.3]


@dataclass(frozen=True)
class PlantedOpportunity:
    strategy_id: str
    title: str
    scope: dict[str, str]  # project, feature, provider, model
    savings_usd: float  # over the generated window, DESIGN §6 definition
    affected_spend_usd: float  # spend of the (project, feature) the plant lives in
    requests: int  # records of that (project, feature)
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoWorkload:
    records: list[dict]
    planted: dict[str, PlantedOpportunity]
    start: datetime
    end: datetime
    seed: int

    @property
    def spend_usd(self) -> float:
        pricer = _pricer()
        return sum(_record_cost(pricer, r) or 0.0 for r in self.records)


_PRICER: Pricer | None = None


def _pricer() -> Pricer:
    # Plants are priced on the shipped price data only: user overrides must not move the
    # documented savings.
    global _PRICER
    if _PRICER is None:
        _PRICER = Pricer()
    return _PRICER


def _record_cost(pricer: Pricer, r: dict) -> float | None:
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


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Builder:
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
            "timestamp": _iso(ts),
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


def _assistant_chat(b: _Builder) -> None:
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


def _report_writer(b: _Builder) -> None:
    for t in b.times(25):
        b.add(
            t, provider="openai", model="gpt-4o", project="docs", feature="report-writer",
            end_user=b.user(40), input_tokens=b.rng.randint(6000, 20000),
            output_tokens=b.rng.randint(1500, 4000),
            prefix_fingerprint=_fp(b.seed, b.name, "prefix"), prefix_tokens=300,
        )  # fmt: skip


def _agent_replies(b: _Builder) -> None:
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


def _long_doc(b: _Builder) -> None:
    for t in b.times(12):
        b.add(
            t, provider="google", model="gemini-2.5-pro", project="research",
            feature="long-doc-analysis", end_user=b.user(30),
            input_tokens=b.rng.randint(20000, 120000), output_tokens=b.rng.randint(1000, 4000),
        )  # fmt: skip


def _autocomplete(b: _Builder) -> None:
    for t in b.times(90):
        b.add(
            t, provider="google", model="gemini-2.5-flash-lite", project="search",
            feature="autocomplete", end_user=b.user(150),
            input_tokens=b.rng.randint(100, 400), output_tokens=b.rng.randint(10, 60),
        )  # fmt: skip


# -- the plants ------------------------------------------------------------------------------


def _plant_right_sizing(b: _Builder, p: Pricer) -> dict[str, Any]:
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
        savings += _must(now) - _must(alt)
    return {"savings": savings, "details": {"sibling_model": sibling}}


def _plant_prompt_caching(b: _Builder, p: Pricer) -> dict[str, Any]:
    prefix, fp = 4000, _fp(b.seed, b.name, "prefix")
    times = b.sessions(18, (2, 7), (30, 280))
    prices = _must(p.unit_prices("anthropic", "claude-sonnet-4-5"))
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


def _plant_batch(b: _Builder, p: Pricer) -> dict[str, Any]:
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
            savings += _must(p.cost("openai", "gpt-4.1", **tokens)) - _must(
                p.cost("openai", "gpt-4.1", service_tier="batch", **tokens)
            )
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {"tier": "batch"}}


def _plant_duplicates(b: _Builder, p: Pricer) -> dict[str, Any]:
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
            savings += _must(_record_cost(p, r))
    return {"savings": savings, "details": {"window_s": DUPLICATE_WINDOW_S}}


def _plant_errors(b: _Builder, p: Pricer) -> dict[str, Any]:
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
            savings += _must(_record_cost(p, r))
            t += timedelta(seconds=b.rng.uniform(2, 20))
        b.add(t, **common, output_tokens=b.rng.randint(150, 600))
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {}}


def _plant_truncation(b: _Builder, p: Pricer) -> dict[str, Any]:
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
            savings += _must(_record_cost(p, r))
            retry = t + timedelta(seconds=b.rng.uniform(3, 60))
            b.add(retry, **common, output_tokens=b.rng.randint(300, 700), max_tokens=1024)
        else:
            b.add(t, **common, output_tokens=b.rng.randint(80, 240), max_tokens=limit)
    b.records.sort(key=lambda r: r["timestamp"])
    return {"savings": savings, "details": {"max_tokens": limit}}


def _plant_arbitrage(b: _Builder, p: Pricer) -> dict[str, Any]:
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
        now = _must(_record_cost(p, r))
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


def _must(value: _T | None) -> _T:
    if value is None:
        raise RuntimeError("a demo model is missing from the price data")
    return value


_BASE: list[tuple[str, Callable[[_Builder], None]]] = [
    ("chat", _assistant_chat),
    ("report", _report_writer),
    ("agent", _agent_replies),
    ("longdoc", _long_doc),
    ("autocomplete", _autocomplete),
]

_PLANTS: list[tuple[str, str, Callable[[_Builder, Pricer], dict[str, Any]]]] = [
    ("model_right_sizing", "Move ticket triage from gpt-4o to gpt-4o-mini", _plant_right_sizing),
    ("prompt_caching", "Cache the email-drafter playbook prefix", _plant_prompt_caching),
    ("batch_tier", "Run nightly summaries on the Batch API", _plant_batch),
    ("duplicate_requests", "Cache responses of repeated query rewrites", _plant_duplicates),
    ("error_waste", "Stop paying for failed tool-runner calls", _plant_errors),
    ("truncation", "Raise max_tokens for the changelog generator", _plant_truncation),
    ("provider_arbitrage", "Buy Mixtral 8x7B from a cheaper provider", _plant_arbitrage),
]


def generate(
    seed: int = 7, days: int = 30, end: datetime | None = None, planted: bool = True
) -> DemoWorkload:
    """The demo workload; see the module docstring for what is planted and how it is priced."""
    if days < 1:
        raise ValueError("days must be at least 1")
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    pricer = _pricer()
    records: list[dict] = []
    for name, build in _BASE:
        b = _Builder(seed, name, start, days)
        build(b)
        records.extend(b.records)
    plants: dict[str, PlantedOpportunity] = {}
    if planted:
        for strategy_id, title, plant in _PLANTS:
            b = _Builder(seed, strategy_id, start, days)
            result = plant(b, pricer)
            first = b.records[0]
            plants[strategy_id] = PlantedOpportunity(
                strategy_id=strategy_id,
                title=title,
                scope={k: first[k] for k in ("project", "feature", "provider", "model")},
                savings_usd=result["savings"],
                affected_spend_usd=sum(_must(_record_cost(pricer, r)) for r in b.records),
                requests=len(b.records),
                description=_plant_doc(strategy_id),
                details=result["details"],
            )
            records.extend(b.records)
    # Keep only the window (sessions may spill past the end) and give a time-ordered stream.
    end_iso = _iso(end)
    kept = [r for r in records if r["timestamp"] < end_iso]
    if len(kept) != len(records):
        raise RuntimeError("demo generator produced records past the window end")
    kept.sort(key=lambda r: (r["timestamp"], r["request_id"]))
    return DemoWorkload(records=kept, planted=plants, start=start, end=end, seed=seed)


def _plant_doc(strategy_id: str) -> str:
    doc = __doc__ or ""
    marker = f"- ``{strategy_id}`` — "
    start = doc.find(marker)
    if start < 0:
        return ""
    stop = doc.find("\n- ``", start + len(marker))
    stop = doc.find("\n\n", start) if stop < 0 else stop
    return " ".join(doc[start + len(marker) : stop].split())


def demo_password_file(data_dir: Path) -> Path:
    return data_dir / "demo_password"


def local_demo_credentials(data_dir: Path) -> tuple[str, str | None]:
    """The demo user's login as kept by a server running with ``--demo`` on this data dir
    (the password is None when no such server has seeded it). Used by the CLI clients."""
    pw_file = demo_password_file(data_dir)
    return DEMO_EMAIL, (pw_file.read_text().strip() if pw_file.exists() else None)


async def seed_demo(resources: Resources) -> tuple[str, str]:
    """Demo org + demo user + the demo workload; idempotent (re-running adds nothing).

    The password is kept in the data dir (mode 0600) so it stays the same across restarts."""
    import secrets

    from tokenomist.auth import service as auth_service
    from tokenomist.usage import service as usage_service

    settings = resources.settings
    pw_file = demo_password_file(settings.data_dir)
    had_password_file = pw_file.exists()
    if had_password_file:
        password = pw_file.read_text().strip()
    else:
        password = "demo-" + secrets.token_urlsafe(9)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        pw_file.touch(mode=0o600)
        pw_file.write_text(password)
    from tokenomist.auth import repository as auth_repository
    from tokenomist.kit import db

    async with db.transaction(resources.sessions) as session:
        existed = await auth_repository.get_user_by_email(session, DEMO_EMAIL) is not None
        _user, org = await auth_service.ensure_user(
            session, email=DEMO_EMAIL, password=password, org_name=DEMO_ORG, name="Demo User"
        )
        org_id = org.id
    if existed and not had_password_file:
        # The user predates this data dir's password file: its password is not ours to show.
        password = f"(set when {DEMO_EMAIL} was created; {pw_file} was missing)"
    workload = generate()
    await usage_service.ingest_records(resources, org_id, workload.records, source="demo")
    return DEMO_EMAIL, password
