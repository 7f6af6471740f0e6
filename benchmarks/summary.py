"""The one table `make bench` prints: every benchmark script given ``--summary FILE`` appends its
headline measures there, one JSON object a line, and ``bench.py`` prints them together."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ("measure", "value", "baseline (same run)", "ratio", "goal", "met")


def row(
    measure: str,
    value: str,
    baseline: str = "",
    ratio: str = "",
    goal: str = "",
    met: bool | None = None,
) -> dict[str, str]:
    return {
        "measure": measure,
        "value": value,
        "baseline (same run)": baseline,
        "ratio": ratio,
        "goal": goal,
        "met": "" if met is None else ("yes" if met else "NO"),
    }


def append(path: str | None, rows: list[dict[str, str]]) -> None:
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def print_table(rows: list[dict[str, str]]) -> None:
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(r[c].ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |")
