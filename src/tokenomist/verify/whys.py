"""Five whys per finding. Every step cites evidence (probe result, error text, health field,
log line, baseline) or says "unknown" and names the probe that would decide it."""

from __future__ import annotations

from dataclasses import dataclass

from tokenomist.verify.classify import Group, related_log_lines
from tokenomist.verify.schemas import Check, Why

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
    """Symptom, cause, mechanism, why now, root. ``baseline_prior``: the first check's status
    in the baseline report ("absent" when the baseline has no such check; None when the caller
    does not know)."""
    sig = group.signature
    logs = related_log_lines(group, log_lines or [])
    confirm = group.fill(sig.confirm_probe)
    # A probe that reproduced the failure is the mechanism's evidence; else a log line is.
    confirmed = probe is not None and not probe.ok
    return [
        _symptom(group, confirm),
        Why(
            f"Why did that happen? {group.fill(sig.cause)}",
            f'signature {sig.id} matched "{group.match.text[:300]}"',
        ),
        _mechanism(group, probe, logs, confirm),
        _why_now(group.checks[0], baseline_status, baseline_when, baseline_prior),
        _root(group, logs[0 if confirmed else 1 :], confirm),
    ]


def _symptom(group: Group, confirm: str) -> Why:
    first = group.checks[0]
    names = ", ".join(c.name for c in group.checks)
    symptom = first.message or f"{first.name} failed"
    also = ""
    if group.consequences:
        also = (
            f" (while it was {'slow' if group.slow_not_down else 'down'}, "
            f"{len(group.consequences)} more check(s) failed with its "
            f"symptoms: {', '.join(c.name for c in group.consequences)}; first: "
            f"{group.consequences[0].message})"
        )
    return Why(
        f"Why did {names} fail? {symptom}{also}",
        first.evidence[0] if first.evidence else _signal_text(group) or UNKNOWN,
        None if first.evidence else confirm,
    )


def _mechanism(group: Group, probe: ProbeResult | None, logs: list[str], confirm: str) -> Why:
    mechanism = f"Why is that? {group.fill(group.signature.mechanism)}"
    # A probe that did NOT reproduce the failure is no support for the mechanism: say so, and
    # lean on the target's own log line if there is one.
    if probe is not None and not probe.ok:
        return Why(mechanism, probe.quote())
    if probe is not None:
        mechanism += (
            f" Not confirmed from the verifier: its {probe.probe} did not reproduce the "
            f"failure ({probe.quote()})"
        )
    if logs:
        return Why(mechanism, f"log: {logs[0]}")
    if probe is not None:
        return Why(mechanism, probe.quote(), confirm)
    return Why(mechanism, UNKNOWN, confirm)


def _why_now(first: Check, status: str | None, when: str | None, prior: str | None) -> Why:
    base = f"baseline run {when}: {first.name}"
    if status == "new" and prior in ("skipped", "absent"):
        # "New" only says it did not fail before; a check the baseline never ran proves nothing.
        what = "was skipped" if prior == "skipped" else "was not run (no such check)"
        return Why(
            "Why now? Whether this deployment introduced it is unknown: the baseline did "
            "not run this check",
            f"{base} {what}",
            "rerun this check against the previous build (loop --rollback)",
        )
    if status == "new":
        return Why("Why now? It is new in this deployment", f"{base} {prior or 'did not fail'}")
    if status == "still_failing":
        return Why("Why now? It is not new", f"{base} already {prior or 'failed'}")
    if status == "flaky":
        # Flakiness is read from this run's attempts, not from the baseline.
        tries = ", ".join("passed" if a else "failed" for a in first.attempts)
        return Why(
            "Why now? It is intermittent: it both failed and passed in this run",
            f"attempts of {first.name} in this run: {tries}",
        )
    return Why(
        "Why now? Whether this deployment introduced it is unknown (no baseline)",
        UNKNOWN,
        "verify --baseline <report.json of the previous deployment>",
    )


def _root(group: Group, unquoted_logs: list[str], confirm: str) -> Why:
    """``unquoted_logs``: related log lines the mechanism step did not quote (never twice)."""
    root = "Why is it configured or built that way (root cause)? "
    root += group.fill(group.signature.root)
    if unquoted_logs:
        return Why(root, f"log: {unquoted_logs[0]}")
    return Why(root, UNKNOWN, confirm)


def _signal_text(group: Group) -> str:
    texts = [s for c in group.checks for s in c.signals if ":" not in s.split(" ")[0]]
    return texts[0] if texts else ""
