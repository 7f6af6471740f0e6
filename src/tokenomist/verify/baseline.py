"""Per-check comparison with a previous report: new failure, fixed, still failing, flaky.

A check is flaky when it was retried in this run and both passed and failed (its attempts
hold True and False), whatever its final status.
"""

from __future__ import annotations

from typing import Any

from tokenomist.verify.schemas import FAILED, Check


def compare(checks: list[Check], baseline: dict[str, Any]) -> dict[str, Any]:
    before = {c["name"]: c["status"] for c in baseline.get("checks", [])}
    new, fixed, still, flaky = [], [], [], []
    for c in checks:
        if True in c.attempts and False in c.attempts:
            flaky.append(c.name)
            continue
        was_failed = before.get(c.name) in FAILED
        if c.failed and was_failed:
            still.append(c.name)
        elif c.failed:
            new.append(c.name)  # also a check the baseline did not have
        elif c.status == "passed" and was_failed:
            fixed.append(c.name)
    return {
        "against": baseline.get("started_at"),
        "new": new,
        "fixed": fixed,
        "still_failing": still,
        "flaky": flaky,
    }


def status_of(name: str, result: dict[str, Any] | None) -> str | None:
    if not result:
        return None
    for key in ("new", "still_failing", "flaky", "fixed"):
        if name in result.get(key, []):
            return key
    return None
