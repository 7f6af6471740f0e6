"""The one JSON document every verify output is rendered from (DESIGN §7), as dataclasses.

A check's ``signals`` are what classification matches the signature catalogue against: tags
such as ``health.kind:dns``, ``http:503``, ``ws.close:1006``, ``pytest:collection_error`` and
the raw error texts. ``evidence`` are quotes a human can check (probe results, health fields,
error text, log lines); the whys cite them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CheckStatus = Literal["passed", "failed", "skipped", "error"]
FindingClass = Literal[
    "infrastructure", "dependency_degraded", "configuration", "test_defect", "product_regression"
]
Decision = Literal["go", "no_go", "inconclusive"]
FAILED = ("failed", "error")


@dataclass
class Check:
    name: str
    kind: str  # health | dependency | auth | ws | golden_path | concurrency | isolation | ...
    status: CheckStatus
    duration_ms: float = 0.0
    message: str | None = None
    subject: str = "target"  # what the check is about: "target" or a dependency name
    signals: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    attempts: list[bool] = field(default_factory=list)  # pass/fail of each attempt (flakiness)
    data: dict[str, Any] = field(default_factory=dict)  # measurements (latency, samples, ...)

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["message"] is None:
            del out["message"]
        out["duration_ms"] = round(self.duration_ms, 1)
        return out


@dataclass
class Why:
    why: str
    evidence: str  # a quote, or "unknown"
    probe: str | None = None  # the probe that would decide an "unknown" step

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"why": self.why, "evidence": self.evidence}
        if self.probe:
            out["probe"] = self.probe
        return out


@dataclass
class Finding:
    id: str
    klass: FindingClass
    title: str
    signature: str
    subject: str
    affected: list[str]
    cause: str
    fix: str
    confirm_probe: str
    whys: list[Why] = field(default_factory=list)
    matched: str = ""  # the signal text the signature matched

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.klass,
            "title": self.title,
            "signature": self.signature,
            "subject": self.subject,
            "affected": self.affected,
            "cause": self.cause,
            "matched": self.matched,
            "whys": [w.as_dict() for w in self.whys],
            "fix": self.fix,
            "confirm_probe": self.confirm_probe,
        }
