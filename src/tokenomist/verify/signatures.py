"""The signature catalogue (``signatures.toml``): failure patterns → cause → class → fix → probe.

The knowledge lives in the data file; this module only loads and matches it, in file order.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("signatures.toml")
CLASSES = (
    "infrastructure",
    "dependency_degraded",
    "configuration",
    "test_defect",
    "product_regression",
)
# An address in free text: "connecting to host:6379", "at redis://user:***@host:6379/0".
_ADDRESS = re.compile(
    r"(?:connecting to|at|to|connect to)\s+(?:[a-z][\w+.-]*://)?(?:[^@/\s]*@)?"
    r"(?P<host>[A-Za-z0-9_.-]*[A-Za-z][A-Za-z0-9_.-]*|\d+\.\d+\.\d+\.\d+):(?P<port>\d+)"
)


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    klass: str
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...]
    cause: str
    mechanism: str
    root: str
    fix: str
    confirm_probe: str
    auto_probe: str | None = None
    symptom_only: bool = False


@dataclass(frozen=True)
class Match:
    signature: Signature
    text: str  # the signal that matched
    values: dict[str, str] = field(default_factory=dict)  # named groups (host, port)


class CatalogueError(ValueError):
    pass


def load(path: Path = CATALOGUE_PATH) -> list[Signature]:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"signature catalogue {path}: {exc}") from exc
    out: list[Signature] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw.get("signature", [])):
        where = f"signature catalogue {path}, entry {i + 1} ({entry.get('id', '?')})"
        missing = [
            k
            for k in ("id", "title", "class", "patterns", "cause", "fix", "confirm_probe")
            if k not in entry
        ]
        if missing:
            raise CatalogueError(f"{where}: missing {', '.join(missing)}")
        if entry["class"] not in CLASSES:
            raise CatalogueError(f"{where}: class {entry['class']!r} is not one of {CLASSES}")
        if entry["id"] in seen:
            raise CatalogueError(f"{where}: duplicate id")
        seen.add(entry["id"])
        try:
            patterns = tuple(re.compile(p, re.IGNORECASE) for p in entry["patterns"])
            requires = tuple(re.compile(p, re.IGNORECASE) for p in entry.get("requires", []))
        except re.error as exc:
            raise CatalogueError(f"{where}: bad pattern: {exc}") from exc
        out.append(
            Signature(
                id=entry["id"],
                title=entry["title"],
                klass=entry["class"],
                patterns=patterns,
                requires=requires,
                cause=entry["cause"],
                mechanism=entry.get("mechanism", "unknown"),
                root=entry.get("root", "unknown"),
                fix=entry["fix"],
                confirm_probe=entry["confirm_probe"],
                auto_probe=entry.get("auto_probe"),
                symptom_only=bool(entry.get("symptom_only", False)),
            )
        )
    if not out:
        raise CatalogueError(f"signature catalogue {path} has no [[signature]] entries")
    return out


@lru_cache(maxsize=1)
def default_catalogue() -> tuple[Signature, ...]:
    return tuple(load())


def match(signals: list[str], catalogue: tuple[Signature, ...] | list[Signature]) -> Match:
    """The first signature (in catalogue order) that matches; the catalogue ends with a
    catch-all, so every failure gets one."""
    for sig in catalogue:
        if sig.requires and not all(any(r.search(s) for s in signals) for r in sig.requires):
            continue
        for pattern in sig.patterns:
            for s in signals:
                m = pattern.search(s)
                if m:
                    values = {k: v for k, v in m.groupdict().items() if v}
                    return Match(sig, s, values)
    raise CatalogueError("no signature matched and the catalogue has no catch-all entry")


def address_in(texts: list[str]) -> dict[str, str]:
    """host/port named in free text (error messages, log lines), if any."""
    for t in texts:
        m = _ADDRESS.search(t)
        if m:
            return {"host": m.group("host"), "port": m.group("port")}
    return {}
