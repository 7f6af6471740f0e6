"""What a question asks: spend (optionally ranked, by a dimension), savings, a comparison of
two periods or two models, a what-if on another model, the unpriced models, "why?" about the
previous answer, or nothing the analyst can answer. Names are matched against the org's own
values (``matching``); periods are parsed in ``periods``.

Two parsers with one output: rules (always available) and, when configured, the language
model. The rules' reading stands wherever they found something; the model only fills what
they left open (so the optional path can do better, never worse), and its filters are
validated against the org's own values before they are trusted."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomist.analyst import matching
from tokenomist.analyst.periods import NUMBER_WORDS, Period, find_periods, number

IntentKind = Literal[
    "optimize", "spend", "compare", "what_if", "unpriced", "why", "anomalies", "budget", "help"
]

_OPTIMIZE = re.compile(
    r"\b(cut|cuts|cutting|sav(e|es|ing|ings)|reduc\w*|lower\w*|cheap\w*|optimi[sz]\w*|"
    r"wast\w*|recommend\w*|plan|improv\w*|efficien\w*|overspend\w*|trim|shrink|"
    r"opportunit\w*|inefficien\w*|spend less|too much)\b",
    re.I,
)
_SPEND = re.compile(
    r"\b(spend|spent|spending|cost|costs|costing|costed|bill|billed|pay|paid|expensive|"
    r"how much|usage|used|tokens?|requests?|calls?|money|dollars?|budget|total|totals)\b",
    re.I,
)
_DIMENSION_WORDS: list[tuple[str, str]] = [
    (r"\b(features?|use[- ]?cases?)\b", "feature"),
    (r"\b(projects?|teams?)\b", "project"),
    (r"\b(providers?|vendors?)\b", "provider"),
    (r"\b(models?)\b", "model"),
    (r"\b(end[ -]?users?|users?|customers?|tenants?)\b", "end_user"),
    (r"\b(days?|daily|per day|trend)\b", "day"),
]
_ASKS_BREAKDOWN = re.compile(
    r"\b(which|top|most|biggest|largest|highest|by|per|each|breakdown|break down|rank\w*|"
    r"split|across)\b",
    re.I,
)
_OVER_TIME = re.compile(r"\b(daily|per day|each day|by day|day by day|trend|over time)\b", re.I)
_TOP_N = re.compile(r"\btop\s+(\d+|" + "|".join(NUMBER_WORDS) + r")\b", re.I)
_UNPRICED = re.compile(
    r"\b(unpriced|not priced|no prices?|without (a )?prices?|unknown (price|model)s?|"
    r"missing prices?|price data (does not|doesn't) know)\b",
    re.I,
)
_WHAT_IF = re.compile(
    r"\b(what (would|if)|would .{0,60}\bcost|if we (switch|switched|move|moved|use|used|ran|"
    r"run|migrate|migrated)|instead|(moving|switching|migrating)\b.{0,60}\bto)\b",
    re.I,
)
_TARGET = re.compile(r"\b(?:on|to|with|using|onto|via|by)\s+(?:the\s+)?([a-z][\w.:/-]*)", re.I)
_COMPARE = re.compile(r"\b(vs\.?|versus|compared? (to|with)|compare|against)\b", re.I)
_BEFORE = re.compile(
    r"\b(the (week|month|period|day) before|the previous (week|month|period)|prior period)\b",
    re.I,
)
_TREND_UP = re.compile(
    r"\b(going (up|down)|rising|falling|increas\w*|decreas\w*|grow\w*|shrinking|"
    r"more than before|changed?)\b",
    re.I,
)
# A name right after one of these is left out, not filtered on.
_EXCLUDING = re.compile(
    r"\b(excluding|exclude|except( for)?|other than|apart from|besides|without|but not|not)"
    r"\s+(the\s+|our\s+)?(\w+\s+)?$",
    re.I,
)
# A sudden move in spend: answered from the anomaly detector, not a period comparison.
_ANOMALY = re.compile(
    r"\b(jump\w*|spik\w*|surg\w*|anomal\w*|unusual\w*|unexpected\w*|sudden\w*|shot up|"
    r"soar\w*|blew up|blow[- ]?up|out of the ordinary)\b",
    re.I,
)
_BUDGET = re.compile(
    r"\b(budgets?|on track|over budget|under budget|forecast\w*|on pace|heading for|"
    r"end (of|the) (the )?month)\b",
    re.I,
)
_WHY = re.compile(r"^\W*(and\s+|but\s+|so\s+)?why\b|\bwhat (drove|drives|caused|explains)\b", re.I)
_FOLLOW_UP = re.compile(
    r"^\W*(and|also|what about|how about|same for|same but|only|just|but|what of)\b", re.I
)
# Weaker openings ("for the legal project, …" may be a whole new question): short ones only.
_FOLLOW_UP_SHORT = re.compile(r"^\W*(for|now|then|ok|okay|in|on|with|by)\b", re.I)


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    dimension: str | None = None
    period: Period = field(default_factory=Period)
    filters: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    limit: int | None = None
    # {"periods": [p, p]} or {"column": c, "sides": [[values], [values]], "labels": [a, b]}
    compare: dict[str, Any] | None = None
    target: dict[str, str] | None = None  # what-if: {"provider", "model"}
    matches: tuple[str, ...] = ()
    unmatched: tuple[dict[str, Any], ...] = ()
    follow_up: bool = False
    source: Literal["rules", "llm"] = "rules"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimension": self.dimension,
            "period": self.period.text or self.period.kind,
            "period_spec": self.period.to_dict(),
            "filters": {k: v if isinstance(v, str) else list(v) for k, v in self.filters.items()},
            "exclude": {k: list(v) for k, v in self.exclude.items()},
            "limit": self.limit,
            "compare": self.compare,
            "target": self.target,
            "matches": list(self.matches),
            "unmatched": list(self.unmatched),
            "follow_up": self.follow_up,
            "parsed_by": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intent:
        filters = {k: v if isinstance(v, str) else tuple(v) for k, v in d["filters"].items()}
        return cls(
            kind=d["kind"],
            dimension=d.get("dimension"),
            period=Period.from_dict(d.get("period_spec") or {}),
            filters=filters,
            exclude={k: tuple(v) for k, v in (d.get("exclude") or {}).items()},
            limit=d.get("limit"),
            compare=d.get("compare"),
            target=d.get("target"),
        )


@dataclass
class Vocabulary:
    """What names can mean here: the org's values and the price data's families."""

    models: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (provider, model)
    providers: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    end_users: list[str] = field(default_factory=list)
    brands: set[str] = field(default_factory=set)
    known_providers: set[str] = field(default_factory=set)
    price_offers: Any = None  # model id -> [(provider, prices)] from the pricing module

    @classmethod
    def of(cls, coverage: dict[str, Any], pricer: Any = None) -> Vocabulary:
        pairs = coverage.get("models", [])
        brands: set[str] = set()
        providers: set[str] = set()
        if pricer is not None:
            brands, providers = price_data_names(pricer)
        return cls(
            models=sorted({m for _, m in pairs}),
            pairs=sorted((p, m) for p, m in pairs),
            providers=sorted({p for p, _ in pairs}),
            projects=list(coverage.get("projects", [])),
            features=list(coverage.get("features", [])),
            end_users=list(coverage.get("end_users", [])),
            brands=brands,
            known_providers=providers,
            price_offers=pricer.offers if pricer is not None else None,
        )


_NAMES_CACHE: dict[int, tuple[set[str], set[str]]] = {}


def price_data_names(pricer: Any) -> tuple[set[str], set[str]]:
    """Family words and provider ids the price data knows (read once per price snapshot)."""
    snapshot = getattr(pricer, "_snapshot", None)  # the pricer does not expose its model list
    if snapshot is None:
        return set(), set()
    key = id(snapshot)
    if key not in _NAMES_CACHE:
        firsts = {b for p in snapshot.providers for m in p.models if (b := matching.brand(m.id))}
        brands = {w for w in matching.FAMILY_WORDS if w in firsts or w in {"o1", "o3", "o4"}}
        _NAMES_CACHE[key] = (brands, {p.id for p in snapshot.providers})
    return _NAMES_CACHE[key]


# -- the rules ---------------------------------------------------------------------------------


def _target(q: str, vocab: Vocabulary, taken: matching.Taken) -> dict[str, str] | None:
    """The model a what-if names ("… on gpt-4o-mini"), from the org's models or the price data."""
    for m in _TARGET.finditer(q):
        token = m.group(1).rstrip("?.!,").lower()
        provider = next((p for p, x in vocab.pairs if x.lower() == token), None)
        family = [(p, x) for p, x in vocab.pairs if token in re.split(r"[-_.:/@]", x.lower())]
        if provider is None and len({x for _, x in family}) == 1:
            provider, token = family[0]  # "on Haiku": the org's one haiku model
        offers = vocab.price_offers(token) if vocab.price_offers and provider is None else []
        if provider is None and offers:
            mine = [p for p, _ in offers if p in vocab.providers]
            provider = mine[0] if mine else offers[0][0]
        if provider:
            taken.take(m.span(1))
            return {"provider": provider, "model": token}
    return None


def _dimension(q: str) -> tuple[str | None, int | None]:
    limit = None
    top = _TOP_N.search(q)
    if top:
        limit = number(top.group(1))
    if _OVER_TIME.search(q):
        return "day", limit
    if _ASKS_BREAKDOWN.search(q) or limit:
        for pattern, dim in _DIMENSION_WORDS:
            if re.search(pattern, q, re.I):
                return dim, limit
    return None, limit


def parse(question: str, vocab: Vocabulary, previous: Intent | None = None) -> Intent:
    """The rules parser. ``previous`` is the thread's last intent, for follow-ups."""
    q = " ".join(question.split())
    taken = matching.Taken()
    periods = find_periods(q)
    for _, span in periods:
        taken.take(span)
    target = _target(q, vocab, taken) if _WHAT_IF.search(q) else None
    # The org's own distinctive names first ("acme-corp" is an end user, not an "acme" model).
    found = matching.Found()
    loose = previous is not None and len(q.split()) <= 6
    loose = loose and bool(_FOLLOW_UP.search(q) or _FOLLOW_UP_SHORT.search(q))
    columns = (("project", vocab.projects), ("feature", vocab.features),
               ("end_user", vocab.end_users))  # fmt: skip
    # Distinctive names of every column first, so "Support Triage" (a feature) is not the
    # plain word "support" (a project); then plain words.
    for part in (
        *(matching.find_values(q, c, v, taken, loose, plain=False) for c, v in columns),
        *(matching.find_values(q, c, v, taken, loose) for c, v in columns),
        matching.find_models(q, vocab.models, vocab.brands, taken),
        matching.find_providers(q, vocab.providers, vocab.known_providers, taken),
    ):
        found.matches += part.matches
        found.unmatched += part.unmatched
    dimension, limit = _dimension(q)
    period = periods[0][0] if periods else Period()
    excluded = [m for m in found.matches if _EXCLUDING.search(q[: m.span[0]])]
    found.matches = [m for m in found.matches if m not in excluded]
    exclude: dict[str, tuple[str, ...]] = {}
    for m in excluded:
        exclude[m.column] = tuple(dict.fromkeys((*exclude.get(m.column, ()), *m.values)))
    compare = _comparison(q, periods, found)
    filters = _filters(found, compare)
    kind = _kind(q, target, compare, found, dimension, periods)
    intent = Intent(
        kind=kind,
        dimension=dimension,
        period=period,
        filters=filters,
        exclude=exclude,
        limit=limit,
        compare=compare,
        target=target,
        matches=tuple(m.describe() for m in found.matches if m.how != "exact" or len(m.values) > 1)
        + tuple(f"excluding {m.describe()}" for m in excluded),
        unmatched=tuple(u.to_dict() for u in found.unmatched),
    )
    if previous is not None and _is_follow_up(q, intent):
        return _follow_up(intent, previous, vocab)
    return intent


def _filters(found: matching.Found, compare: dict | None) -> dict[str, str | tuple[str, ...]]:
    out: dict[str, str | tuple[str, ...]] = {}
    for column, values in found.filters().items():
        if compare and compare.get("column") == column:
            continue
        out[column] = values[0] if len(values) == 1 else values
    return out


def _comparison(q: str, periods: list, found: matching.Found) -> dict[str, Any] | None:
    if not _COMPARE.search(q) and not _TREND_UP.search(q):
        return None
    if len(periods) >= 2:
        first, second = periods[0][0], periods[1][0]
        if first.kind == "this_month" and second.kind == "last" and second.days == 30:
            second = Period("prev_month", text="last month")
        if first.kind == "this_week" and second.kind == "last" and second.days == 7:
            second = Period("before", text="last week")
        return {"periods": [first.to_dict(), second.to_dict()]}
    if len(periods) <= 1 and (_BEFORE.search(q) or _TREND_UP.search(q)):
        first = periods[0][0] if periods else Period()
        before = Period("before", text="the period before")
        return {"periods": [first.to_dict(), before.to_dict()]}
    if len(periods) == 1 and _BEFORE.search(q):
        return {
            "periods": [
                periods[0][0].to_dict(),
                Period("before", text="the period before").to_dict(),
            ]
        }
    by_column: dict[str, list[matching.Match]] = {}
    for m in sorted(found.matches, key=lambda m: m.span[0]):
        by_column.setdefault(m.column, []).append(m)
    for column, ms in by_column.items():
        if len(ms) >= 2:
            return {
                "column": column,
                "sides": [list(ms[0].values), list(ms[1].values)],
                "labels": [ms[0].text, ms[1].text],
            }
    return None


def _kind(q, target, compare, found, dimension, periods) -> IntentKind:
    if _UNPRICED.search(q):
        return "unpriced"
    if target is not None:
        return "what_if"
    if _ANOMALY.search(q):
        return "anomalies"
    if _BUDGET.search(q) and not _OPTIMIZE.search(q):
        return "budget"
    if _WHY.search(q):
        return "why"
    if compare and (_COMPARE.search(q) or not _OPTIMIZE.search(q)):
        return "compare"
    if _OPTIMIZE.search(q):
        return "optimize"
    if _SPEND.search(q) or dimension or found.matches or found.unmatched or periods:
        return "spend"
    return "help"


def _is_follow_up(q: str, intent: Intent) -> bool:
    short = len(q.split()) <= 6
    if intent.kind == "why" or _FOLLOW_UP.search(q) or (short and _FOLLOW_UP_SHORT.search(q)):
        return True
    return short and intent.kind in ("spend", "help") and not _SPEND.search(q)


def _follow_up(new: Intent, prev: Intent, vocab: Vocabulary) -> Intent:
    """The previous question with what this one changes: its filters replace the same
    columns', its period and breakdown replace the old ones; a new kind of question wins."""
    kept = [f"follow-up of the previous question ({prev.kind})"]
    filters = dict(prev.filters)
    target = prev.target
    if prev.kind == "what_if" and new.kind != "what_if" and "model" in new.filters:
        new_filters = dict(new.filters)
        model = new_filters.pop("model")
        model = model if isinstance(model, str) else model[0]
        provider = next((p for p, m in vocab.pairs if m == model), None)
        target = {"provider": provider or (prev.target or {}).get("provider", ""), "model": model}
        new = replace(new, filters=new_filters)
    filters.update(new.filters)
    exclude = {**prev.exclude, **new.exclude}
    kind = new.kind if new.kind not in ("spend", "help") else prev.kind
    if kind == "help":
        kind = "spend"
    period = new.period if new.period.kind != "default" else prev.period
    if new.period.kind == "default" and prev.period.kind != "default":
        kept.append(f"period {prev.period.text or prev.period.kind}")
    if filters:
        kept.append("filters " + ", ".join(f"{k}={v if isinstance(v, str) else '|'.join(v)}"
                                           for k, v in filters.items()))  # fmt: skip
    return replace(
        new,
        kind=kind,
        dimension=new.dimension or (prev.dimension if kind == prev.kind else None),
        limit=new.limit or prev.limit,
        period=period,
        filters=filters,
        exclude=exclude,
        compare=new.compare or (prev.compare if kind == "compare" else None),
        target=new.target or (target if kind == "what_if" else None),
        matches=(*new.matches, "; ".join(kept)),
        follow_up=True,
    )


# -- the language model's version ------------------------------------------------------------

LLM_SYSTEM = """You turn a question about an organisation's LLM API spend into JSON.
Answer with one JSON object and nothing else:
{"kind": "optimize" | "spend" | "unpriced" | "help",
 "dimension": null | "model" | "provider" | "project" | "feature" | "end_user" | "day",
 "period": {"kind": "default" | "last" | "today" | "yesterday" | "this_week" | "this_month" | "all",
            "days": null | number},
 "filters": {"provider"?: str, "model"?: str, "project"?: str, "feature"?: str, "end_user"?: str}}
"optimize" = the user wants savings or recommendations; "spend" = a plain question about
spend or usage; "help" = not a question about spend or usage.
Use "last" with "days" for "last week" (7), "last 3 days" (3), "last month"
(30). Only use filter values from the lists given."""


class _LLMPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["default", "last", "today", "yesterday", "this_week", "this_month", "all"]
    days: float | None = Field(None, gt=0, le=3660)


class _LLMIntent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["optimize", "spend", "unpriced", "help"]
    dimension: Literal["model", "provider", "project", "feature", "end_user", "day"] | None
    period: _LLMPeriod
    filters: dict[str, str] = {}


def llm_prompt(question: str, vocab: Vocabulary) -> str:
    return json.dumps(
        {
            "question": question,
            "providers": vocab.providers,
            "models": vocab.models,
            "projects": vocab.projects,
            "features": vocab.features,
            "end_users": vocab.end_users[:200],
        }
    )


def from_llm(text: str, vocab: Vocabulary) -> tuple[Intent, list[str]]:
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
        "provider": set(vocab.providers),
        "model": set(vocab.models),
        "project": set(vocab.projects),
        "feature": set(vocab.features),
        "end_user": set(vocab.end_users),
    }
    filters: dict[str, str | tuple[str, ...]] = {}
    dropped = []
    for key, value in parsed.filters.items():
        if key in known and value in known[key]:
            filters[key] = value
        else:
            dropped.append(f"{key}={value}")
    notes = [f"ignored filters the data does not contain: {', '.join(dropped)}"] if dropped else []
    p = parsed.period
    if p.kind == "last":
        period = Period("last", p.days, f"last {p.days:g} days")
    else:
        period = Period(p.kind, None, "" if p.kind == "default" else p.kind.replace("_", " "))
    return Intent(parsed.kind, parsed.dimension, period, filters, source="llm"), notes


def merge(rules: Intent, llm: Intent, question: str) -> Intent:
    """The rules' reading wherever they found something to answer; the model's when they
    found nothing. The model may add a filter the rules missed only when the value is
    written in the question (case and punctuation aside): a value it made up is dropped."""
    if rules.kind == "help":
        return replace(llm, follow_up=rules.follow_up, matches=rules.matches)
    filters = dict(rules.filters)
    said = matching.norm(question)
    if not rules.unmatched and rules.kind in ("spend", "optimize", "unpriced"):
        for column, value in llm.filters.items():
            values = (value,) if isinstance(value, str) else value
            fresh = column not in filters and column not in rules.exclude
            if fresh and all(matching.norm(v) in said for v in values):
                filters[column] = value
    return replace(rules, filters=filters, source="llm")
