"""What a question asks: a plain spend question or a request for savings, which breakdown,
which period and which filters. Two parsers with one output: rules (always available) and,
when configured, the language model — whose answer is validated against the same schema
and the org's own models/projects/features before it is trusted.

Periods are relative to an anchor, stated in every report: the org's latest usage record
(``analyst_window_anchor = "data"``, the default, so an import of last year's logs answers
"last week" about that data) or the clock (``"now"``). "last week" is the 7 days up to the
anchor, "last month" the 30 days; "today", "yesterday", "this week" (since Monday) and "this
month" (since the 1st) are calendar periods in UTC."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomist.analyst.query import Window

IntentKind = Literal["optimize", "spend"]
PeriodKind = Literal["default", "last", "today", "yesterday", "this_week", "this_month", "all"]

_OPTIMIZE = re.compile(
    r"\b(cut|cuts|cutting|sav(e|es|ing|ings)|reduc\w*|lower\w*|cheap\w*|optimi[sz]\w*|"
    r"wast\w*|recommend\w*|plan|improv\w*|efficien\w*|overspend\w*|trim|shrink|"
    r"opportunit\w*|inefficien\w*|spend less|too much)\b",
    re.I,
)
_SPEND = re.compile(
    r"\b(spend|spent|spending|cost|costs|costing|bill|billed|pay|paid|expensive|"
    r"how much|usage|tokens?|requests?|calls?)\b",
    re.I,
)
_DIMENSION_WORDS: list[tuple[str, str]] = [
    (r"\b(features?)\b", "feature"),
    (r"\b(projects?)\b", "project"),
    (r"\b(models?)\b", "model"),
    (r"\b(providers?|vendors?)\b", "provider"),
    (r"\b(end[ -]?users?|users?|customers?)\b", "end_user"),
    (r"\b(days?|daily|per day|trend)\b", "day"),
]
_ASKS_BREAKDOWN = re.compile(
    r"\b(which|what|top|most|biggest|largest|highest|by|per|each|breakdown|break down|rank)\b",
    re.I,
)
_OVER_TIME = re.compile(r"\b(daily|per day|each day|by day|trend|over time)\b", re.I)
_UNITS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "ten": 10, "fourteen": 14, "thirty": 30}  # fmt: skip


@dataclass(frozen=True)
class Period:
    kind: PeriodKind = "default"
    days: float | None = None  # for kind == "last"
    text: str = ""


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    dimension: str | None
    period: Period
    filters: dict[str, str] = field(default_factory=dict)
    source: Literal["rules", "llm"] = "rules"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimension": self.dimension,
            "period": self.period.text or self.period.kind,
            "filters": self.filters,
            "parsed_by": self.source,
        }


def parse(question: str, coverage: dict[str, Any]) -> Intent:
    """The rules parser (keywords choose intent and period; names come from the org's data)."""
    q = " ".join(question.split())
    optimize = bool(_OPTIMIZE.search(q))
    spend = bool(_SPEND.search(q))
    kind: IntentKind = "spend" if spend and not optimize else "optimize"
    dimension = "day" if _OVER_TIME.search(q) else None
    if dimension is None and _ASKS_BREAKDOWN.search(q):
        for pattern, dim in _DIMENSION_WORDS:
            if re.search(pattern, q, re.I):
                dimension = dim
                break
    return Intent(kind, dimension, parse_period(q), find_filters(q, coverage))


def parse_period(q: str) -> Period:
    m = re.search(
        r"\b(?:last|past|previous|over the last|in the last)\s+(\d+|"
        + "|".join(_NUMBER_WORDS)
        + r")\s+(hour|day|week|month)s?\b",
        q,
        re.I,
    )
    if m:
        raw = m.group(1).lower()
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        return Period("last", n * _UNITS[m.group(2).lower()], m.group(0).lower())
    m = re.search(r"\b(?:last|past|previous)\s+(24 hours|hour|day|week|month)\b", q, re.I)
    if m:
        unit = m.group(1).lower()
        days = 1.0 if unit == "24 hours" else _UNITS[unit]
        return Period("last", days, m.group(0).lower())
    for pattern, kind in (
        (r"\btoday\b", "today"),
        (r"\byesterday\b", "yesterday"),
        (r"\bthis week\b", "this_week"),
        (r"\bthis month\b", "this_month"),
        (r"\b(all time|ever|so far|in total|all (of )?(the|our) data)\b", "all"),
    ):
        m = re.search(pattern, q, re.I)
        if m:
            return Period(kind, None, m.group(0).lower())  # type: ignore[arg-type]
    return Period()


def _mentioned(name: str, q: str) -> bool:
    # Whole names only: "gpt-4o" must not match inside "gpt-4o-mini".
    return re.search(rf"(?<![\w.\-/]){re.escape(name)}(?![\w\-/]|\.\w)", q, re.I) is not None


def find_filters(q: str, coverage: dict[str, Any]) -> dict[str, str]:
    filters: dict[str, str] = {}
    models = sorted({m for _, m in coverage.get("models", [])}, key=len, reverse=True)
    for model in models:
        if _mentioned(model, q):
            filters["model"] = model
            break
    providers = sorted({p for p, _ in coverage.get("models", [])}, key=len, reverse=True)
    for provider in providers:
        if _mentioned(provider, q) and "model" not in filters:
            filters["provider"] = provider
            break
    # Project/feature names are often plain words ("search", "chat"): a plain word counts
    # only next to "project"/"feature"; a distinctive name (with - _ / or a digit) anywhere.
    for column in ("project", "feature"):
        for name in sorted(coverage.get(f"{column}s", []), key=len, reverse=True):
            distinctive = re.search(r"[-_/\d]", name) is not None
            near = re.search(
                rf"(\b{column}s?\s+['\"]?{re.escape(name)}\b|\b{re.escape(name)}['\"]?\s+{column}s?\b)",
                q,
                re.I,
            )
            if near or (distinctive and _mentioned(name, q)):
                filters[column] = name
                break
    return filters


# -- the language model's version ------------------------------------------------------------

LLM_SYSTEM = """You turn a question about an organisation's LLM API spend into JSON.
Answer with one JSON object and nothing else:
{"kind": "optimize" | "spend",
 "dimension": null | "model" | "provider" | "project" | "feature" | "end_user" | "day",
 "period": {"kind": "default" | "last" | "today" | "yesterday" | "this_week" | "this_month" | "all",
            "days": null | number},
 "filters": {"provider"?: str, "model"?: str, "project"?: str, "feature"?: str}}
"optimize" = the user wants savings or recommendations; "spend" = a plain question about
spend or usage. Use "last" with "days" for "last week" (7), "last 3 days" (3), "last month"
(30). Only use filter values from the lists given."""


class _LLMPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: PeriodKind
    days: float | None = Field(None, gt=0, le=3660)


class _LLMIntent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: IntentKind
    dimension: Literal["model", "provider", "project", "feature", "end_user", "day"] | None
    period: _LLMPeriod
    filters: dict[str, str] = {}


def llm_prompt(question: str, coverage: dict[str, Any]) -> str:
    return json.dumps(
        {
            "question": question,
            "providers": sorted({p for p, _ in coverage.get("models", [])}),
            "models": sorted({m for _, m in coverage.get("models", [])}),
            "projects": coverage.get("projects", []),
            "features": coverage.get("features", []),
        }
    )


def from_llm(text: str, coverage: dict[str, Any]) -> tuple[Intent, list[str]]:
    """Validate the model's JSON; raise ValueError when it is not usable. Filters naming
    things the org does not have are dropped (and reported), never queried."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        parsed = _LLMIntent.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(
            f"the model's intent is not valid JSON of the expected shape: {exc}"
        ) from None
    if parsed.period.kind == "last" and not parsed.period.days:
        raise ValueError("the model's intent has period 'last' without days")
    known = {
        "provider": {p for p, _ in coverage.get("models", [])},
        "model": {m for _, m in coverage.get("models", [])},
        "project": set(coverage.get("projects", [])),
        "feature": set(coverage.get("features", [])),
    }
    filters, dropped = {}, []
    for key, value in parsed.filters.items():
        if key in known and value in known[key]:
            filters[key] = value
        else:
            dropped.append(f"{key}={value}")
    notes = [f"ignored filters the data does not contain: {', '.join(dropped)}"] if dropped else []
    period = Period(parsed.period.kind, parsed.period.days, parsed.period.kind)
    if period.kind == "last":
        period = Period("last", period.days, f"last {period.days:g} days")
    return Intent(parsed.kind, parsed.dimension, period, filters, "llm"), notes


# -- from a period to a window ---------------------------------------------------------------


def resolve_window(
    period: Period,
    coverage: dict[str, Any],
    *,
    anchor_mode: str = "data",
    default_days: int = 30,
    now: datetime | None = None,
) -> Window:
    if not coverage.get("requests"):
        # No usage at all: there is no latest record to anchor on.
        anchor_mode = "now"
    if anchor_mode == "now":
        end, anchor = (now or datetime.now(UTC)), "now"
    else:
        end, anchor = coverage["latest"], "latest_usage"
    earliest: datetime = coverage.get("earliest") or end - timedelta(days=default_days)
    midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if period.kind == "last" and period.days:
        return Window.last(period.days, end, period.text or f"last {period.days:g} days", anchor)
    if period.kind == "today":
        return Window(midnight, end, "today (UTC)", anchor)
    if period.kind == "yesterday":
        return Window(
            midnight - timedelta(days=1),
            midnight - timedelta(milliseconds=1),
            "yesterday (UTC)",
            anchor,
        )
    if period.kind == "this_week":
        return Window(midnight - timedelta(days=end.weekday()), end, "this week (UTC)", anchor)
    if period.kind == "this_month":
        return Window(midnight.replace(day=1), end, "this month (UTC)", anchor)
    if period.kind == "all":
        return Window(earliest, end, "all data", anchor)
    start = max(earliest, end - timedelta(days=default_days))
    label = f"last {default_days} days" if start > earliest else f"all data ({_span(end - start)})"
    return Window(start, end, label, anchor)


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds / 60, 1):.0f} minutes"
