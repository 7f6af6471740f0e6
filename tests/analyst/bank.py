"""The question bank's workload and its expected figures, computed here from the rows in
Python (each row priced by the pricing module, as ingest prices it), independently of the
analyst's SQL.

The workload: three providers, seven priced models in four families (one a dated id), one
unpriced model, four projects, five features, four end users; a 58-minute burst in November
2023 (project ``conv``), then two months of traffic to ``LATEST`` with a five-day gap."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tokenomist.usage.pricing import Pricer

LATEST = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RECENT_START = datetime(2026, 9, 20, tzinfo=UTC)
GAP = (datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC))  # 5 days
OLD_START = datetime(2023, 11, 16, 10, 0, tzinfo=UTC)
OLD_ROWS = 290  # every 12 s: 58 minutes
STEP = timedelta(minutes=20)
MS = timedelta(milliseconds=1)

COMBOS = [  # provider, model, project, feature, end user, weight
    ("openai", "gpt-4o", "legal", "contract-review", "acme-corp", 3),
    ("openai", "gpt-4o-2024-08-06", "support", "support-triage", "globex", 2),
    ("openai", "gpt-4o-mini", "support", "support-triage", "initech", 4),
    ("openai", "gpt-4o-mini", "search-platform", "query-rewrite", "user-042", 3),
    ("anthropic", "claude-3-5-sonnet", "legal", "contract-review", "globex", 2),
    ("anthropic", "claude-3-haiku", "support", "summarize", "acme-corp", 3),
    ("google", "gemini-1.5-flash", "search-platform", "query-rewrite", "initech", 3),
    ("google", "gemini-1.5-pro", "legal", "summarize", "user-042", 1),
    ("acme", "acme-llm-9000", "support", "chat", "globex", 1),
]
CLAUDE = {"claude-3-5-sonnet", "claude-3-haiku"}
GPT_4O = {"gpt-4o", "gpt-4o-2024-08-06"}


@dataclass(frozen=True)
class Row:
    timestamp: datetime
    provider: str
    model: str
    project: str
    feature: str
    end_user: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost: float | None

    def record(self, i: int) -> dict:
        return {
            "request_id": f"bank-{i}",
            "timestamp": self.timestamp,
            "provider": self.provider,
            "model": self.model,
            "project": self.project,
            "feature": self.feature,
            "end_user": self.end_user,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
        }


def generate(pricer: Pricer, seed: int = 14) -> list[Row]:
    rnd = random.Random(seed)
    rows: list[Row] = []

    def add(ts, provider, model, project, feature, user):
        inp = rnd.randint(200, 4000)
        cached = rnd.choice([0, 0, inp // 2])
        out = rnd.randint(20, 800)
        cost = pricer.cost(provider, model, input_tokens=inp, cached_input_tokens=cached,
                           output_tokens=out)  # fmt: skip
        rows.append(Row(ts, provider, model, project, feature, user, inp, cached, out, cost))

    for i in range(OLD_ROWS):
        add(OLD_START + timedelta(seconds=12 * i), "openai", "gpt-4o", "conv", "chat", "")
    weights = [c[5] for c in COMBOS]
    ts = RECENT_START
    while ts <= LATEST:
        if not GAP[0] <= ts < GAP[1]:
            combo = rnd.choices(COMBOS, weights)[0]
            add(ts, *combo[:5])
        ts += STEP
    assert rows[-1].timestamp == LATEST
    return rows


HELP = ["what's the weather in Paris?", "tell me a joke", "hello there"]


def select(rows: list[Row], start: datetime | None = None, end: datetime | None = None,
           **filters: set[str] | str) -> list[Row]:  # fmt: skip
    """Rows in [start, end] (both inclusive) whose columns are in the given value sets."""
    sets = {k: {v} if isinstance(v, str) else set(v) for k, v in filters.items()}
    return [
        r
        for r in rows
        if (start is None or r.timestamp >= start)
        and (end is None or r.timestamp <= end)
        and all(getattr(r, k) in vs for k, vs in sets.items())
    ]


def spend(rows: list[Row]) -> float:
    return sum(r.cost for r in rows if r.cost is not None)


def active_days(rows: list[Row], start: datetime, end: datetime) -> float:
    """The UTC days of [start, end] that have a row, at most the window's length."""
    days = {r.timestamp.date() for r in rows if start <= r.timestamp <= end}
    return max(min(len(days), (end - start).total_seconds() / 86400), 1 / 24)


def last(days: float) -> tuple[datetime, datetime]:
    return LATEST - timedelta(days=days), LATEST


def month(year: int, m: int) -> tuple[datetime, datetime]:
    start = datetime(year, m, 1, tzinfo=UTC)
    nxt = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, nxt - MS


def day_start(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


PRICER = Pricer()
ROWS = generate(PRICER)
