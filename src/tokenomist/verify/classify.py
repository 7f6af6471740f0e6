"""Every failed check gets a class from the signature catalogue; failures sharing a root cause
(same signature, same subject) become one finding listing the checks they affected."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenomist.verify.schemas import Check
from tokenomist.verify.signatures import Match, Signature, address_in, default_catalogue, match


@dataclass
class Group:
    signature: Signature
    subject: str
    checks: list[Check]
    match: Match
    values: dict[str, str] = field(default_factory=dict)  # host, port, subject, check
    # Checks that failed with a mere symptom while this dependency was down (or slow).
    consequences: list[Check] = field(default_factory=list)

    @property
    def slow_not_down(self) -> bool:
        """The dependency answered, slower than its threshold (not an outage)."""
        return self.signature.klass == "dependency_degraded"

    def fill(self, text: str) -> str:
        """Fill {host}/{port}/{subject}/{check} placeholders; unknown ones read 'unknown'."""
        return text.format_map(_Default(self.values))


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return f"<{key} unknown>"


def classify(
    checks: list[Check],
    catalogue: tuple[Signature, ...] | list[Signature] | None = None,
    *,
    log_lines: list[str] | None = None,
) -> list[Group]:
    """Groups of failed checks by (signature, subject), in the order they were first seen."""
    catalogue = catalogue or default_catalogue()
    groups: dict[str, Group] = {}
    for check in checks:
        if not check.failed:
            continue
        m = match([*check.signals, f"check:{check.kind}"], catalogue)
        key = f"{m.signature.id}@{check.subject}"
        if key not in groups:
            values = {"subject": check.subject, "check": check.name}
            values.update(address_in(check.signals + check.evidence))
            values.update(m.values)
            groups[key] = Group(m.signature, check.subject, [], m, values)
        groups[key].checks.append(check)
    merged = _attach_consequences(list(groups.values()))
    # A log line naming the subject's address completes a host the health body did not give.
    for g in groups.values():
        if "host" not in g.values and log_lines:
            related = related_log_lines(g, log_lines)
            g.values.update(address_in(related))
    return merged


def _attach_consequences(groups: list[Group]) -> list[Group]:
    """Symptom-only failures at the front door join the finding of a dependency that
    /health/ready reported unhealthy in the same run: one root cause, one finding. Likewise the
    target's slowness (a slow golden path) joins the finding of a dependency that was slow."""
    down = [
        g
        for g in groups
        if g.subject != "target" and any("health.status:unhealthy" in c.signals for c in g.checks)
    ]
    slow = [g for g in groups if g.subject != "target" and g.slow_not_down]
    if not down and not slow:
        return groups
    kept: list[Group] = []
    for g in groups:
        if g.subject != "target":
            kept.append(g)
        elif down and (g.signature.symptom_only or _app_said_unavailable(g)):
            down[0].consequences.extend(g.checks)
        elif slow and g.slow_not_down:
            slow[0].consequences.extend(g.checks)
        else:
            kept.append(g)
    return kept


def _app_said_unavailable(group: Group) -> bool:
    """Every check of the group got the app's own 503 ``dependency_unavailable`` answer: the
    app itself blamed a dependency, whatever driver text (matching a more specific signature)
    its message quotes."""
    return all("auth.error:dependency_unavailable" in c.signals for c in group.checks)


_SUBJECT_WORDS = {
    "cache": ("redis", "cache"),
    "database": ("postgres", "sqlite", "database", "sql"),
    "analytics": ("clickhouse", "chdb", "analytics"),
}


def related_log_lines(group: Group, log_lines: list[str], limit: int = 3) -> list[str]:
    """Log lines that the group's signature matches and that name its subject (when the
    subject is a dependency), most specific first."""
    words = _SUBJECT_WORDS.get(group.subject, ())
    matching: list[str] = []
    naming_host: list[str] = []
    host = group.values.get("host")
    for line in log_lines:
        low = line.lower()
        if words and not any(w in low for w in words):
            continue
        if any(p.search(line) for p in group.signature.patterns):
            matching.append(line.strip())
        elif host and host in line:
            naming_host.append(line.strip())
    # Lines the signature itself matches say the most; lines merely naming the host come after.
    return (matching or naming_host)[:limit]
