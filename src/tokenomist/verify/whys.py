"""Five whys per finding. Every step cites evidence (probe result, error text, health field,
log line, baseline) or says "unknown" and names the probe that would decide it."""

from __future__ import annotations

from dataclasses import dataclass

from tokenomist.verify.classify import Group, related_log_lines
from tokenomist.verify.schemas import Why

UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProbeResult:
    """A confirm probe the verifier ran itself (e.g. resolve_host nonexistent.invalid)."""

    probe: str
    target: str
    ok: bool
    detail: str

    def quote(self) -> str:
        outcome = "ok" if self.ok else "failed"
        return f"probe {self.probe}({self.target}) from the verifier: {outcome}: {self.detail}"


def five_whys(
    group: Group,
    *,
    probe: ProbeResult | None = None,
    log_lines: list[str] | None = None,
    baseline_status: str | None = None,
    baseline_when: str | None = None,
    baseline_prior: str | None = None,
) -> list[Why]:
    """``baseline_prior``: the first check's status in the baseline report ("absent" when the
    baseline has no such check; None when the caller does not know)."""
    sig = group.signature
    first = group.checks[0]
    names = ", ".join(c.name for c in group.checks)
    symptom = first.message or f"{first.name} failed"
    logs = related_log_lines(group, log_lines or [])
    confirm = group.fill(sig.confirm_probe)

    also = ""
    if group.consequences:
        also = (
            f" (while it was down, {len(group.consequences)} more check(s) failed with its "
            f"symptoms: {', '.join(c.name for c in group.consequences)}; first: "
            f"{group.consequences[0].message})"
        )
    whys = [
        Why(
            f"Why did {names} fail? {symptom}{also}",
            first.evidence[0] if first.evidence else _signal_text(group) or UNKNOWN,
            None if first.evidence else confirm,
        ),
        Why(
            f"Why did that happen? {group.fill(sig.cause)}",
            f'signature {sig.id} matched "{group.match.text[:300]}"',
        ),
    ]
    mechanism = f"Why is that? {group.fill(sig.mechanism)}"
    # A probe that did NOT reproduce the failure is no support for the mechanism: say so, and
    # lean on the target's own log line if there is one.
    confirmed = probe is not None and not probe.ok
    if probe is not None and probe.ok:
        mechanism += (
            f" Not confirmed from the verifier: its {probe.probe} did not reproduce the "
            f"failure ({probe.quote()})"
        )
    if confirmed:
        assert probe is not None
        whys.append(Why(mechanism, probe.quote()))
    elif logs:
        whys.append(Why(mechanism, f"log: {logs[0]}"))
    elif probe is not None:
        whys.append(Why(mechanism, probe.quote(), confirm))
    else:
        whys.append(Why(mechanism, UNKNOWN, confirm))

    base = f"baseline run {baseline_when}: {first.name}"
    if baseline_status == "new" and baseline_prior in ("skipped", "absent"):
        # "New" only says it did not fail before; a check the baseline never ran proves nothing.
        what = "was skipped" if baseline_prior == "skipped" else "was not run (no such check)"
        whys.append(
            Why(
                "Why now? Whether this deployment introduced it is unknown: the baseline did "
                "not run this check",
                f"{base} {what}",
                "rerun this check against the previous build (loop --rollback)",
            )
        )
    elif baseline_status == "new":
        whys.append(
            Why(
                "Why now? It is new in this deployment",
                f"{base} {baseline_prior or 'did not fail'}",
            )
        )
    elif baseline_status == "still_failing":
        whys.append(
            Why(
                "Why now? It is not new",
                f"{base} already {baseline_prior or 'failed'}",
            )
        )
    elif baseline_status == "flaky":
        # Flakiness is read from this run's attempts, not from the baseline.
        tries = ", ".join("passed" if a else "failed" for a in first.attempts)
        whys.append(
            Why(
                "Why now? It is intermittent: it both failed and passed in this run",
                f"attempts of {first.name} in this run: {tries}",
            )
        )
    else:
        whys.append(
            Why(
                "Why now? Whether this deployment introduced it is unknown (no baseline)",
                UNKNOWN,
                "verify --baseline <report.json of the previous deployment>",
            )
        )

    root = f"Why is it configured or built that way (root cause)? {group.fill(sig.root)}"
    # Step 3 quoted the first related log line unless a probe confirmed it; never quote twice.
    used = 0 if confirmed else 1
    root_log = logs[used] if len(logs) > used else None
    if root_log:
        whys.append(Why(root, f"log: {root_log}"))
    else:
        whys.append(Why(root, UNKNOWN, confirm))
    return whys


def _signal_text(group: Group) -> str:
    texts = [s for c in group.checks for s in c.signals if ":" not in s.split(" ")[0]]
    return texts[0] if texts else ""
