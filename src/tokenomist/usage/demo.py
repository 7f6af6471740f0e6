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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Re-exported: tests and callers read the cache lifetime and the shipped-price costing here.
from tokenomist.usage.demo_components import (
    BASE_COMPONENTS,
    CACHE_LIFETIME_S,
    DUPLICATE_WINDOW_S,
    PLANTS,
    Builder,
    iso,
    must,
)
from tokenomist.usage.demo_components import record_cost as _record_cost
from tokenomist.usage.demo_components import shipped_pricer as _pricer

if TYPE_CHECKING:
    from tokenomist.kit.resources import Resources

__all__ = [
    "CACHE_LIFETIME_S",
    "DEMO_EMAIL",
    "DEMO_ORG",
    "DUPLICATE_WINDOW_S",
    "STRATEGY_IDS",
    "DemoWorkload",
    "PlantedOpportunity",
    "demo_password_file",
    "generate",
    "local_demo_credentials",
    "seed_demo",
]

STRATEGY_IDS: tuple[str, ...] = (
    "model_right_sizing",
    "prompt_caching",
    "batch_tier",
    "duplicate_requests",
    "error_waste",
    "truncation",
    "provider_arbitrage",
)
DEMO_EMAIL = "demo@tokenomist.local"
DEMO_ORG = "Demo Co"


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
    for name, build in BASE_COMPONENTS:
        b = Builder(seed, name, start, days)
        build(b)
        records.extend(b.records)
    plants: dict[str, PlantedOpportunity] = {}
    if planted:
        for strategy_id, title, plant in PLANTS:
            b = Builder(seed, strategy_id, start, days)
            result = plant(b, pricer)
            first = b.records[0]
            plants[strategy_id] = PlantedOpportunity(
                strategy_id=strategy_id,
                title=title,
                scope={k: first[k] for k in ("project", "feature", "provider", "model")},
                savings_usd=result["savings"],
                affected_spend_usd=sum(must(_record_cost(pricer, r)) for r in b.records),
                requests=len(b.records),
                description=_plant_doc(strategy_id),
                details=result["details"],
            )
            records.extend(b.records)
    # Keep only the window (sessions may spill past the end) and give a time-ordered stream.
    end_iso = iso(end)
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
