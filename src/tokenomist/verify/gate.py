"""The go / no_go / inconclusive decision, with configurable thresholds and critical checks.

Exit codes: go 0, no_go 1, inconclusive 3.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tokenomist.verify.schemas import Check, Finding

EXIT_CODES = {"go": 0, "no_go": 1, "inconclusive": 3}


@dataclass
class Thresholds:
    # Latency above which a dependency check fails (ms), per dependency name, and the default.
    dependency_latency_ms: dict[str, float] = field(default_factory=dict)
    default_dependency_latency_ms: float = 500.0
    time_to_first_event_ms: float = 10_000.0
    time_to_completion_ms: float = 120_000.0
    # Golden-path timings are judged on at least this many completed samples.
    min_samples: int = 3
    # A failed check is retried this many times (a pass on retry marks it flaky).
    retries: int = 1
    # Checks whose failure is always no_go and whose skip makes the run inconclusive.
    critical: list[str] = field(
        default_factory=lambda: [
            "health.ready",
            "dependency.database",
            "dependency.analytics",
            "auth.*",
            "ws.*",
            "golden_path*",
            "isolation*",
            "resume*",
        ]
    )
    # Finding classes that do not block a deployment by themselves (not product failures).
    non_blocking_classes: list[str] = field(default_factory=lambda: ["test_defect"])
    # How many blocking failures of non-critical checks are tolerated.
    max_noncritical_failures: int = 0
    # Signatures meaning the tests never exercised the target (DESIGN §7: skipped async tests
    # make a run inconclusive, even though pytest now reports them as failures).
    inconclusive_signatures: list[str] = field(default_factory=lambda: ["async_test_not_run"])

    def latency_ms(self, dependency: str) -> float:
        return self.dependency_latency_ms.get(dependency, self.default_dependency_latency_ms)

    def is_critical(self, check_name: str) -> bool:
        return any(fnmatch.fnmatchcase(check_name, p) for p in self.critical)


class ThresholdsError(ValueError):
    pass


def load_thresholds(path: Path | None) -> Thresholds:
    """Thresholds from a TOML or JSON file (unknown keys are an error naming the key)."""
    if path is None:
        return Thresholds()
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ThresholdsError(f"thresholds file {path}: {exc}") from exc
    known = {f.name for f in fields(Thresholds)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ThresholdsError(
            f"thresholds file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        return Thresholds(**raw)
    except TypeError as exc:
        raise ThresholdsError(f"thresholds file {path}: {exc}") from exc


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]


def decide(
    checks: list[Check],
    findings: list[Finding],
    thresholds: Thresholds,
    *,
    target_reachable: bool = True,
    suites: list[dict[str, Any]] | None = None,
) -> Decision:
    inconclusive: list[str] = []
    if not target_reachable:
        inconclusive.append("target unreachable at start: no probe could run")
    for s in suites or []:
        if s.get("collected", 0) == 0:
            inconclusive.append(f"suite {s['path']}: zero tests collected")
        elif s.get("collected", 0) and s.get("skipped", 0) == s.get("collected"):
            inconclusive.append(f"suite {s['path']}: every test skipped ({s['collected']})")
    for f in findings:
        if f.signature in thresholds.inconclusive_signatures:
            title = f.title.rsplit(" — ", 1)[0]
            inconclusive.append(
                f"{len(f.affected)} test(s) did not run ({title}): {', '.join(f.affected[:5])}"
            )
    skipped: dict[str, list[str]] = {}
    for c in checks:
        if c.status == "skipped" and thresholds.is_critical(c.name):
            skipped.setdefault(c.message or "no reason", []).append(c.name)
    for reason, names in skipped.items():
        if len(names) == 1:
            inconclusive.append(f"critical check {names[0]} skipped: {reason}")
        else:
            inconclusive.append(
                f"{len(names)} critical checks skipped ({reason}): {', '.join(names)}"
            )
    if not [c for c in checks if c.status != "skipped"]:
        inconclusive.append("no check ran")

    klass_of = {name: f.klass for f in findings for name in f.affected}
    blocking: list[str] = []
    noncritical: list[str] = []
    for c in checks:
        if not c.failed:
            continue
        klass = klass_of.get(c.name, "product_regression")
        if thresholds.is_critical(c.name):
            blocking.append(f"critical check {c.name} failed ({klass})")
        elif klass not in thresholds.non_blocking_classes:
            noncritical.append(f"check {c.name} failed ({klass})")
    if len(noncritical) > thresholds.max_noncritical_failures:
        blocking.extend(noncritical)

    if inconclusive and not (target_reachable and blocking):
        return Decision("inconclusive", inconclusive + blocking)
    if blocking:
        return Decision("no_go", blocking + inconclusive)
    if inconclusive:
        return Decision("inconclusive", inconclusive)
    return Decision("go", ["every check passed or failed only for non-blocking reasons"])
