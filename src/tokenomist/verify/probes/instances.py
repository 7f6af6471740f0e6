"""``instances``: do all the instances behind the target say the same thing?

A load balancer sends each request to one instance; the other checks each see whichever one
answered, so an instance that differs (an old build left after a rollout, a dependency down on
one host) shows up as a check that fails one time in N — flaky, and blamed on the wrong thing.
This probe asks ``/health/ready`` several times, each on a fresh connection (a balancer may
pick the instance per connection), groups the answers by ``instance_id`` and compares what
each instance reports: its version, its config fingerprint (when the body has one), and each
dependency's backend and status. It names the instance that differs and how many of the
instances seen it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from tokenomist.verify.probes.signals import ProbeFailed, ProbeSkipped, exception_signals
from tokenomist.verify.probes.state import RunState

# Round-robin visits every one of N instances in N answers; 4 answers per instance seen
# (at least 4, at most 12) also catches weighted or least-connection balancing with high
# probability while staying a bounded, fast check.
SAMPLES_PER_INSTANCE = 4
MAX_SAMPLES = 12
# Worse statuses last: the instances not at the best status are the ones that differ.
_STATUS_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}


@dataclass(frozen=True)
class Disagreement:
    """What the odd instances report, against the rest."""

    kind: str  # version | config | backend | dependency_unhealthy | dependency_degraded
    odd: list[str]  # instance ids that differ, in the order they were first seen
    seen: int  # instances seen
    text: str  # "1 of 2 instances (ab12) reports cache unhealthy"
    evidence: list[str]
    dependency: dict[str, Any] | None = None  # the odd instance's dependency, when one

    @property
    def signals(self) -> list[str]:
        """What the catalogue matches: ``instances:<kind>`` and the sentence itself, then for
        a dependency its error kind and text. Not ``health.status:unhealthy``: classification
        would then hand this finding the front door's symptoms as if the dependency were down
        on every instance."""
        out = [f"instances:{self.kind}", self.text]
        err = (self.dependency or {}).get("error") or {}
        if err:
            out.append(f"health.kind:{err.get('kind')}")
            out.append(str(err.get("message")))
        return out


async def probe_instances(state: RunState) -> str:
    answers, errors, tried = await _sample(state)
    if not answers:
        raise ProbeFailed(
            f"/health/ready gave no health body on {tried} fresh connections",
            signals=[s for exc in errors[:1] for s in exception_signals(exc)],
            evidence=[f"GET {state.config.target}/health/ready raised {e!r}" for e in errors[:3]],
        )
    if any("instance_id" not in body for body in answers):
        raise ProbeSkipped("/health/ready names no instance_id: instances cannot be told apart")
    samples: dict[str, list[dict[str, Any]]] = {}
    for body in answers:
        samples.setdefault(str(body["instance_id"]), []).append(body)
    by_id = {instance: steadiest(bodies) for instance, bodies in samples.items()}
    state.measured["instances"] = _summary(by_id, len(answers))
    found = disagreements(by_id)
    if found:
        first = found[0]
        raise ProbeFailed(
            "; ".join(d.text for d in found),
            signals=first.signals,
            evidence=[q for d in found for q in d.evidence],
            subject=first.odd[0],
            data=state.measured.pop("instances"),
        )
    if len(by_id) == 1:
        return f"1 instance seen in {len(answers)} answers"
    return f"{len(by_id)} instances agree in {len(answers)} answers: {_agreed(by_id)}"


async def _sample(state: RunState) -> tuple[list[dict[str, Any]], list[Exception], int]:
    """Health bodies of up to ``MAX_SAMPLES`` fresh connections (and the errors, and how many
    were tried); enough once every instance seen has had ``SAMPLES_PER_INSTANCE`` chances.
    Failed answers are counted, not fatal: an instance leaving rotation mid-sample is the
    balancer's business."""
    answers: list[dict[str, Any]] = []
    errors: list[Exception] = []
    seen: set[str] = set()
    n = 0
    for n in range(1, MAX_SAMPLES + 1):
        try:
            # A client per sample: a new TCP connection each time, whatever the balancer keys on.
            async with httpx.AsyncClient(timeout=state.config.request_timeout_s) as http:
                resp = await http.get(f"{state.config.target}/health/ready")
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            errors.append(exc)
            continue
        if isinstance(body, dict) and isinstance(body.get("checks"), dict):
            answers.append(body)
            seen.add(str(body.get("instance_id")))
        if n >= SAMPLES_PER_INSTANCE * max(1, len(seen)):
            break
    return answers, errors, n


def steadiest(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """One instance's health as the comparison reads it: its latest body, with each dependency
    at the best status any of its answers gave. A dependency slow or down in only some of an
    instance's answers is a blip of that moment (a latency spike on a loaded host), not a
    difference between instances; one that is worse in every answer is."""
    latest = dict(bodies[-1])
    checks: dict[str, Any] = {}
    for name in dict.fromkeys(n for body in bodies for n in body["checks"]):
        seen = [_dependency(body, name) for body in bodies if name in body["checks"]]
        checks[name] = min(seen, key=_rank)
    latest["checks"] = checks
    return latest


def _rank(dependency: dict[str, Any]) -> int:
    return _STATUS_RANK.get(str(dependency.get("status")), len(_STATUS_RANK))


def disagreements(by_id: dict[str, dict[str, Any]]) -> list[Disagreement]:
    """Every way the instances (instance_id → its health body) differ, the weightiest first:
    build, configuration, which backend a dependency is, then a dependency's health."""
    if len(by_id) < 2:
        return []
    out: list[Disagreement] = []
    for field_, kind in (("version", "version"), ("config_fingerprint", "config")):
        values = {i: body.get(field_) for i, body in by_id.items()}
        if field_ == "config_fingerprint" and all(v is None for v in values.values()):
            continue  # a build that does not expose one
        out.extend(_minority(kind, field_, values))
    names = sorted({n for body in by_id.values() for n in body["checks"]})
    for name in names:
        deps = {i: _dependency(body, name) for i, body in by_id.items()}
        backends = {i: d.get("backend") for i, d in deps.items()}
        out.extend(_minority("backend", f"{name} backend", backends, name=name))
        out.extend(_worse_status(name, deps))
    return out


def _minority(
    kind: str,
    label: str,
    values: dict[str, Any],
    *,
    name: str | None = None,  # the dependency, when the value is one of its fields
) -> list[Disagreement]:
    """The instances whose value is not the most common one (ties: the value seen first)."""
    groups: dict[str, list[str]] = {}
    for instance, value in values.items():
        groups.setdefault(json.dumps(value), []).append(instance)
    if len(groups) < 2:
        return []
    common = max(groups, key=lambda v: len(groups[v]))  # max keeps the first of equals
    odd = [i for v, ids in groups.items() if v != common for i in ids]
    theirs = ", ".join(sorted({_show(values[i]) for i in odd}))
    others = len(values) - len(odd)
    verb = "differs" if len(odd) == 1 else "differ"
    text = (
        f"{_of(odd, len(values))} {verb}: {label} {theirs} vs {_show(json.loads(common))} "
        f"on the other{'s' if others > 1 else ''}"
    )
    field_ = f"checks.{name}.backend" if name else label
    quote = _quote_field(values, odd, groups[common][0], field_)
    return [Disagreement(kind, odd, len(values), text, quote)]


def _worse_status(name: str, deps: dict[str, dict[str, Any]]) -> list[Disagreement]:
    """The instances at a worse status for ``name`` than the best instance reports."""

    def rank(instance: str) -> int:
        return _rank(deps[instance])

    best = min(rank(i) for i in deps)
    odd = [i for i in deps if rank(i) > best]
    if not odd:
        return []
    status = str(deps[odd[0]].get("status"))
    verb = "reports" if len(odd) == 1 else "report"
    text = f"{_of(odd, len(deps))} {verb} {name} {status}"
    err = deps[odd[0]].get("error") or {}
    if err:
        text += f" ({err.get('kind', '?')}: {err.get('message', 'no error given')})"
    healthy = next(i for i in deps if rank(i) == best)
    evidence = [
        f"GET /health/ready from instance {i} → checks.{name} = {json.dumps(deps[i])}"
        for i in (*odd[:2], healthy)
    ]
    kind = "dependency_unhealthy" if status == "unhealthy" else "dependency_degraded"
    return [Disagreement(kind, odd, len(deps), text, evidence, deps[odd[0]])]


def _dependency(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``checks.<name>`` of a health body, {} when absent or not an object (health.ready
    reports the contract break; here it only counts as a difference)."""
    dep = body["checks"].get(name)
    return dep if isinstance(dep, dict) else {}


def _of(odd: list[str], seen: int) -> str:
    return f"{len(odd)} of {seen} instances ({', '.join(odd)})"


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def _quote_field(values: dict[str, Any], odd: list[str], other: str, field_: str) -> list[str]:
    return [
        f"GET /health/ready from instance {i} → {field_} = {json.dumps(values[i])}"
        for i in (*odd[:2], other)
    ]


def _agreed(by_id: dict[str, dict[str, Any]]) -> str:
    body = next(iter(by_id.values()))
    deps = ", ".join(
        f"{n} {_dependency(body, n).get('backend')} {_dependency(body, n).get('status')}"
        for n in sorted(body["checks"])
    )
    return f"version {body.get('version')}, {deps}"


def _summary(by_id: dict[str, dict[str, Any]], samples: int) -> dict[str, Any]:
    """For report.json: what each instance said, in a few fields."""
    return {
        "samples": samples,
        "instances": {
            i: {
                "version": body.get("version"),
                "status": body.get("status"),
                "config_fingerprint": body.get("config_fingerprint"),
                "checks": {
                    n: {k: _dependency(body, n).get(k) for k in ("backend", "status")}
                    for n in body["checks"]
                },
            }
            for i, body in by_id.items()
        },
    }


__all__ = ["Disagreement", "disagreements", "probe_instances"]
