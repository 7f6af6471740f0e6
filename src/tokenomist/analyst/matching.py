"""Names in a question matched against the org's own values: models (exact ids, dated ids,
families such as "Claude" or "the mini models"), providers, projects, features and end users.
Matching ignores case and punctuation ("Support Triage" is ``support-triage``); every match is
stated in the answer, and a name that matches nothing is reported with the nearest values,
never queried as an empty filter.

Family and brand words come from the org's models and from the price data, so a brand the
org has never used ("Llama") is recognised as a model name that matches nothing."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

_DATED = re.compile(r"(-|@)(\d{4}-?\d{2}-?\d{2}|\d{4}|latest|preview)$")
# Components of model ids that are ordinary words; they name a family only as "X models".
_COMMON = {"mini", "pro", "flash", "turbo", "nano", "large", "small", "medium", "chat",
           "instruct", "vision", "code", "search", "audio", "preview", "latest", "lite",
           "sonnet", "haiku", "opus", "ultra", "plus", "max", "fast", "light"}  # fmt: skip
_STOP = {
    "the",
    "a",
    "an",
    "our",
    "my",
    "this",
    "that",
    "which",
    "what",
    "each",
    "every",
    "any",
    "all",
    "per",
    "by",
    "one",
    "some",
    "of",
    "for",
    "in",
    "on",
    "most",
    "top",
    "biggest",
    "largest",
    "expensive",
    "costly",
    "new",
    "same",
    "other",
    "whole",
    "its",
    "their",
    "your",
    "only",
    "just",
    "and",
    "or",
    "to",
    "from",
    "is",
    "are",
    "much",
    "many",
    "end",
    "cost",
    "costs",
    "spend",
    "spent",
    "last",
    "past",
    "previous",
    "today",
    "yesterday",
    "since",
    "between",
    "week",
    "month",
    "day",
    "over",
    "during",
    "vs",
    "versus",
    "compared",
    "use",
    "uses",
    "used",
    "using",
    "did",
    "does",
    "do",
    "has",
    "have",
    "had",
    "was",
    "were",
    "with",
    "name",
    "names",
    "breakdown",
    "we",
    "us",
    "it",
    "be",
    "would",
    "could",
    "should",
    "not",
    "no",
    "least",
    "more",
    "less",
    "like",
    "look",
    "looks",
    "get",
    "got",
    "as",
    "at",
    "so",
    "if",
    "how",
    "who",
    "why",
    "when",
    "where",
    "there",
    "here",
    "these",
    "those",
    "them",
    "they",
    "it's",
}
# Words of the questions themselves: never read as a plain project/feature/user name.
QUESTION_WORDS = {"ai", "llm", "api", "spend", "cost", "costs", "save", "saving", "savings",
                  "cut", "reduce", "cheaper", "plan", "money", "bill", "usage", "tokens",
                  "requests", "calls", "model", "models", "total", "week", "month", "year",
                  "day", "days", "trend", "daily", "quarter", "weekend", "time", "data",
                  "everything", "price", "prices", "unpriced", "compare", "why", "top",
                  "show", "tell", "me", "give", "list", "much", "many", "expensive"}  # fmt: skip
# Well-known model families; the ones present in the price data count as model names.
FAMILY_WORDS = {"claude", "gpt", "gemini", "gemma", "llama", "mistral", "mixtral", "codestral",
                "command", "deepseek", "grok", "qwen", "phi", "nova", "sonar", "jamba", "kimi",
                "glm", "chatgpt", "palm", "titan", "cohere", "o1", "o3", "o4"}  # fmt: skip
COLUMN_WORDS = {
    "project": r"projects?|teams?|apps?",
    "feature": r"features?|use[- ]?cases?|endpoints?",
    "end_user": r"end[- ]?users?|customers?|users?|tenants?|accounts?",
}


def norm(text: str) -> str:
    """Case- and punctuation-insensitive form for comparing names."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def base_model(model: str) -> str:
    """A model id without its date or ``latest`` suffix (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    m = model.lower()
    while True:
        stripped = _DATED.sub("", m)
        if stripped == m or not stripped:
            return m
        m = stripped


def _flex(name: str) -> str:
    """A regex for a name whose separators may be written as any of - _ . space."""
    parts = [re.escape(p) for p in re.split(r"[-_.\s/]+", name) if p]
    return r"[-_.\s/]?".join(parts)


def _bounded(pattern: str) -> str:
    return rf"(?<![\w.\-/]){pattern}(?![\w\-/]|\.\w)"


@dataclass
class Match:
    column: str
    values: tuple[str, ...]
    text: str
    span: tuple[int, int]
    how: str  # "exact", "alias", "family", "name"

    def describe(self) -> str:
        if self.how == "exact" and len(self.values) == 1 and self.values[0] == self.text:
            return f"{self.column} {self.values[0]}"
        shown = ", ".join(self.values)
        shown = "in {" + shown + "}" if len(self.values) > 1 else shown
        return f"“{self.text}” → {self.column} {shown}"


@dataclass
class Unmatched:
    column: str
    text: str
    nearest: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "text": self.text, "nearest": self.nearest}


@dataclass
class Found:
    matches: list[Match] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)

    def filters(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for m in self.matches:
            merged = tuple(dict.fromkeys((*out.get(m.column, ()), *m.values)))
            out[m.column] = merged
        return out


class Taken:
    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []

    def free(self, span: tuple[int, int]) -> bool:
        return not any(a < span[1] and span[0] < b for a, b in self.spans)

    def take(self, span: tuple[int, int]) -> None:
        self.spans.append(span)


def nearest(text: str, values: list[str], n: int = 3) -> list[str]:
    by_norm = {norm(v): v for v in values}
    close = difflib.get_close_matches(norm(text), list(by_norm), n=n, cutoff=0.3)
    picked = [by_norm[c] for c in close]
    return picked or sorted(values)[:n]


def brand(model: str) -> str | None:
    m = re.match(r"[a-z]+", model.lower())
    return m.group(0) if m and len(m.group(0)) >= 3 else None


def find_models(q: str, models: list[str], known_brands: set[str], taken: Taken) -> Found:
    found = Found()
    # Exact ids (separators free), longest first, so "gpt-4o-mini" wins over "gpt-4o".
    for model in sorted(set(models), key=len, reverse=True):
        for m in re.finditer(_bounded(_flex(model)), q, re.I):
            if taken.free(m.span()):
                taken.take(m.span())
                dated = [x for x in models if base_model(x) == model.lower() and x != model]
                found.matches.append(
                    Match("model", (model, *sorted(dated)), m.group(0), m.span(), "exact")
                )
    # Dated ids' base name ("gpt-4o" when the org only has gpt-4o-2024-08-06).
    bases: dict[str, list[str]] = {}
    for model in models:
        bases.setdefault(base_model(model), []).append(model)
    for base, ids in sorted(bases.items(), key=lambda kv: len(kv[0]), reverse=True):
        for m in re.finditer(_bounded(_flex(base)), q, re.I):
            if taken.free(m.span()):
                taken.take(m.span())
                found.matches.append(
                    Match("model", tuple(sorted(ids)), m.group(0), m.span(), "alias")
                )
    # Families: a brand word anywhere ("Claude"), any id component before "model(s)".
    components = {
        c for model in models for c in re.split(r"[-_.:/@]", model.lower()) if c.isalpha()
    }
    brands = known_brands | {b for x in models if (b := brand(x)) and b not in _COMMON}
    pattern = r"\b([a-z][a-z0-9]*(?:[-.][a-z0-9]+)*)(?:'s)?(\s+(?:family|models?|series))?\b"
    for m in re.finditer(pattern, q, re.I):
        word, suffix = m.group(1).lower(), m.group(2)
        if word in _STOP or not taken.free(m.span()):
            continue
        if re.search(r"[\d-]", word):
            # Model-like ("gpt-9-ultra", "gpt-4o models"): a family by prefix, or no match.
            if brand(word) not in brands:
                continue
            family = sorted(x for x in models if x.lower().startswith(word)) if suffix else []
        elif word in brands or (suffix and word in components):
            family = sorted(x for x in models if _has_component(x, word))
        else:
            continue
        taken.take(m.span())
        if family:
            text = m.group(0).strip()
            found.matches.append(Match("model", tuple(family), text, m.span(), "family"))
        else:
            found.unmatched.append(Unmatched("model", m.group(1), nearest(word, models)))
    return found


def _has_component(model: str, word: str) -> bool:
    m = model.lower()
    if "-" in word or "." in word:
        return m.startswith(word)
    return word in re.split(r"[-_.:/@]", m)


def find_providers(q: str, providers: list[str], known: set[str], taken: Taken) -> Found:
    found = Found()
    for m in re.finditer(r"\b([a-z][a-z0-9_-]*)\b", q, re.I):
        word = m.group(1).lower()
        if not taken.free(m.span()) or word in _STOP:
            continue
        hits = sorted(p for p in providers if norm(p) == norm(word) or p.split("-")[0] == word)
        if hits:
            taken.take(m.span())
            found.matches.append(Match("provider", tuple(hits), m.group(1), m.span(), "name"))
        elif word in known and len(word) >= 4:
            taken.take(m.span())
            found.unmatched.append(Unmatched("provider", m.group(1), nearest(word, providers)))
    return found


def _distinctive(value: str) -> bool:
    return re.search(r"[-_/\d\s.]", value.strip()) is not None and len(norm(value)) >= 3


def find_values(
    q: str, column: str, values: list[str], taken: Taken, loose: bool = False, plain: bool = True
) -> Found:
    """Projects, features or end users, anywhere in the question, stated as matched ("legal"
    → project legal); a plain word that is also a word of spend questions ("cost", "AI")
    only beside the column's word ("the cost project") or in a follow-up (``loose``)."""
    found = Found()
    words = list(re.finditer(r"[\w@.+-]+", q))
    col = COLUMN_WORDS[column]
    by_norm: dict[str, str] = {}
    for v in values:
        by_norm.setdefault(norm(v), v)
    for size in (4, 3, 2, 1):
        for i in range(len(words) - size + 1):
            span = (words[i].start(), words[i + size - 1].end())
            text = q[span[0] : span[1]].strip(".-")
            value = by_norm.get(norm(text))
            if value is None or not taken.free(span):
                continue
            before, after = q[: span[0]], q[span[1] :]
            near = re.search(rf"\b({col})\s+['\"“]?$", before, re.I) or re.match(
                rf"['\"”]?\s+({col})\b", after, re.I
            )
            plain_ok = plain and (loose or text.lower() not in (_STOP | QUESTION_WORDS))
            if near or plain_ok or size > 1 or _distinctive(value):
                taken.take(span)
                found.matches.append(Match(column, (value,), text, span, "name"))
    if not plain:
        return found
    # "the foo project" naming nothing the org has: say so, with the nearest names.
    for m in re.finditer(rf"\b(?:the\s+)?([\w.-]+)\s+(?:{col})\b|\b(?:{col})\s+['\"“]?([\w.-]+)",
                         q, re.I):  # fmt: skip
        word = m.group(1) or m.group(2)
        span = m.span(1) if m.group(1) else m.span(2)
        if not word or word.lower() in _STOP or not taken.free(span) or word.isdigit():
            continue
        if re.fullmatch(r"(?:" + "|".join(COLUMN_WORDS.values()) + ")", word, re.I):
            continue
        taken.take(span)
        found.unmatched.append(Unmatched(column, word, nearest(word, values) if values else []))
    return found
