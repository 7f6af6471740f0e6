"""Why no format claimed an input: the CSV format its header comes closest to, and the columns
that kept it from matching, a likely typo named with its correction (difflib).

Only CSV headers can miss narrowly: any JSON document is claimed by the canonical format.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from tokenomist.usage.formats.base import CsvHeader, strip_bom

SIMILARITY = 0.6  # difflib's ratio from which a column is taken for a typo of another


@dataclass(frozen=True)
class NearMiss:
    format: str  # the closest format's name
    reason: str  # "looks like the canonical CSV but column `input_tokns` is unknown (...)"
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    suggestions: dict[str, str] = field(default_factory=dict)  # unknown column → known one
    score: int = 0  # required columns present plus typos recognised


def header_columns(head: bytes) -> list[str] | None:
    """The first line's comma-separated names, or None when it is not a CSV header."""
    first = strip_bom(head).split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if "," not in first:
        return None
    return [h.strip().strip('"') for h in first.split(",")]


def closest(head: bytes, headers: Iterable[tuple[str, CsvHeader]]) -> NearMiss | None:
    """The CSV format whose header this input's first line comes closest to (the first listed
    on a tie), or None when it shares nothing with any (not a usage CSV at all)."""
    columns = header_columns(head)
    if not columns:
        return None
    best: NearMiss | None = None
    for name, header in headers:
        miss = _compare(name, header, columns)
        if miss is not None and (best is None or miss.score > best.score):
            best = miss
    return best


def _compare(name: str, header: CsvHeader, columns: list[str]) -> NearMiss | None:
    present = set(columns)
    missing = [c for c in header.required if c not in present]
    unknown = list(dict.fromkeys(c for c in columns if c not in header.known))
    # A typo most likely stands for a required column that is missing, else any unused one.
    candidates = missing + sorted(header.known - present - set(missing))
    suggestions: dict[str, str] = {}
    for col in unknown:
        match = difflib.get_close_matches(col, candidates, n=1, cutoff=SIMILARITY)
        if match:
            suggestions[col] = match[0]
            candidates.remove(match[0])
    score = len(header.required) - len(missing) + len(suggestions)
    if score == 0:
        return None
    clauses = [f"column `{c}` is unknown (did you mean `{s}`?)" for c, s in suggestions.items()]
    unexplained = [c for c in missing if c not in suggestions.values()]
    if unexplained:
        names = ", ".join(f"`{c}`" for c in unexplained)
        clauses.append(f"it has no {names} column{'s' if len(unexplained) > 1 else ''}")
    if header.closed:
        clauses += [f"column `{c}` is not one of its columns" for c in unknown
                    if c not in suggestions]  # fmt: skip
        if not clauses:
            clauses.append(f"its header must be exactly {','.join(header.required)}")
    if not clauses:  # nothing kept it from matching: the sniff would have claimed it
        return None
    reason = f"looks like {header.label} but " + "; ".join(clauses)
    return NearMiss(name, reason, unknown, missing, suggestions, score)
