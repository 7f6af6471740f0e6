"""Every output is rendered from the one report document: report.json, a dated worklog.md
entry, junit.xml and pr.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from tokenomist.kit.masking import mask_data, mask_secrets

DECISION_WORDS = {"go": "GO", "no_go": "NO-GO", "inconclusive": "INCONCLUSIVE"}


def next_steps(report: dict[str, Any]) -> list[str]:
    steps: list[str] = []
    for f in report.get("findings", []):
        steps.append(f"[{f['id']}] {f['fix']} (confirm: {f['confirm_probe']})")
    decision = report["decision"]
    if decision == "go":
        steps.append("Promote this build; keep report.json as the baseline of the next run.")
    elif decision == "inconclusive":
        steps.append("Re-run verify once the reasons above are resolved; do not promote yet.")
    else:
        steps.append("Do not promote; roll back or fix the findings above, then re-verify.")
    return steps


def write_all(report: dict[str, Any], out_dir: Path, *, worklog: Path | None = None) -> dict:
    """Write the four outputs; the worklog entry is appended (the file is a running log).

    Every one is rendered from a masked copy: evidence quotes logs, errors and commands that
    may carry a DSN password or a token, and these files are pasted into PRs and CI."""
    report = mask_data(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out_dir / "report.json",
        "junit": out_dir / "junit.xml",
        "pr": out_dir / "pr.md",
        "worklog": worklog or out_dir / "worklog.md",
    }
    paths["report"].write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    paths["junit"].write_bytes(render_junit(report))
    paths["pr"].write_text(render_pr(report))
    append_worklog(paths["worklog"], render_worklog_entry(report))
    return paths


def append_worklog(path: Path, entry: str) -> None:
    """Append an entry, masked (the loop's steps quote the operator's deploy command and its
    output verbatim)."""
    entry = mask_secrets(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a") as fh:
        if new:
            fh.write("# Worklog\n\n")
        fh.write(entry.rstrip() + "\n\n")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "—"


def render_worklog_entry(report: dict[str, Any]) -> str:
    lines = [
        f"## {report['started_at']} — verify {report['target']}: "
        f"{DECISION_WORDS[report['decision']]}",
        "",
    ]
    target = report.get("target_info") or {}
    if target:
        lines += [
            f"Target version {target.get('version', '?')}, environment "
            f"{target.get('environment', '?')}, health {target.get('status', '?')}.",
            "",
        ]
    lines += _worklog_dependencies(report.get("dependencies", {}))
    lines += _worklog_checks(report)
    lines += _worklog_findings(report["findings"])
    if report.get("baseline"):
        b = report["baseline"]
        lines += [
            "### Baseline",
            "",
            f"Against {b.get('against')}: new {_names(b['new'])}; fixed {_names(b['fixed'])}; "
            f"still failing {_names(b['still_failing'])}; flaky {_names(b['flaky'])}.",
            "",
        ]
    lines += [
        "### Decision",
        "",
        f"**{DECISION_WORDS[report['decision']]}** (exit {report['exit_code']}):",
    ]
    lines += [f"- {r}" for r in report.get("decision_reasons", [])]
    lines += ["", "### Next steps", ""]
    lines += [f"- {s}" for s in report.get("next_steps", [])]
    return "\n".join(lines) + "\n"


def _worklog_dependencies(deps: dict[str, Any]) -> list[str]:
    lines = ["### Dependencies", ""]
    if not deps:
        return [*lines, "No dependency data (health endpoint not reached)."]
    lines += ["| dependency | backend | status | latency ms | threshold ms | error |"]
    lines += ["|---|---|---|---|---|---|"]
    for name, d in deps.items():
        err = d.get("error")
        err_text = f"{err['kind']}: {err['message']}" if err else ""
        lines.append(
            f"| {name} | {d.get('backend', '')} | {d['status']} | {d.get('latency_ms', '')} "
            f"| {d.get('threshold_ms', '')} | {_cell(err_text)} |"
        )
    return lines


def _worklog_checks(report: dict[str, Any]) -> list[str]:
    lines = ["", "### Checks", "", "| check | status | ms | message |", "|---|---|---|---|"]
    for c in report["checks"]:
        flaky = " (flaky)" if True in c.get("attempts", []) and False in c["attempts"] else ""
        lines.append(
            f"| {c['name']} | {c['status']}{flaky} | {c['duration_ms']} "
            f"| {_cell(c.get('message', ''))} |"
        )
    for s in report.get("suites", []):
        lines.append("")
        lines.append(
            f"Suite `{s['path']}`: exit {s['exit_code']}, collected {s['collected']}, "
            f"passed {s['passed']}, failed {s['failed']}, errors {s['errors']}, "
            f"skipped {s['skipped']}, collection errors {len(s['collection_errors'])}."
        )
    return lines


def _worklog_findings(findings: list[dict[str, Any]]) -> list[str]:
    lines = ["", "### Findings", ""]
    if not findings:
        lines += ["None.", ""]
    for f in findings:
        lines.append(f"#### {f['id']} — {f['class']}: {f['title']}")
        lines.append("")
        lines.append(f"Affected: {', '.join(f['affected'])}")
        lines.append("")
        for i, w in enumerate(f["whys"], 1):
            probe = f" — decide with: {w['probe']}" if w.get("probe") else ""
            lines.append(f"{i}. {w['why']}  ")
            lines.append(f"   Evidence: {w['evidence']}{probe}")
        lines.append("")
        lines.append(f"Fix: {f['fix']}  ")
        lines.append(f"Confirm: {f['confirm_probe']}")
        lines.append("")
    return lines


def render_junit(report: dict[str, Any]) -> bytes:
    checks = report["checks"]
    suite = ET.Element(
        "testsuite",
        name="tokenomist.verify",
        tests=str(len(checks)),
        failures=str(sum(c["status"] == "failed" for c in checks)),
        errors=str(sum(c["status"] == "error" for c in checks)),
        skipped=str(sum(c["status"] == "skipped" for c in checks)),
        timestamp=report["started_at"],
        time=f"{sum(c['duration_ms'] for c in checks) / 1000:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="target", value=report["target"])
    ET.SubElement(props, "property", name="decision", value=report["decision"])
    finding_of = {n: f for f in report["findings"] for n in f["affected"]}
    for c in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"verify.{c['kind']}",
            name=c["name"],
            time=f"{c['duration_ms'] / 1000:.3f}",
        )
        if c["status"] in ("failed", "error"):
            f = finding_of.get(c["name"])
            el = ET.SubElement(
                case,
                "failure" if c["status"] == "failed" else "error",
                message=c.get("message", ""),
                type=f["class"] if f else "unclassified",
            )
            body = list(c.get("evidence", []))
            if f:
                body.append(f"finding {f['id']}: {f['title']}; fix: {f['fix']}")
            el.text = "\n".join(body)
        elif c["status"] == "skipped":
            ET.SubElement(case, "skipped", message=c.get("message", ""))
    testsuites = ET.Element("testsuites")
    testsuites.append(suite)
    return ET.tostring(testsuites, encoding="utf-8", xml_declaration=True)


def render_pr(report: dict[str, Any]) -> str:
    word = DECISION_WORDS[report["decision"]]
    checks = report["checks"]
    passed = sum(c["status"] == "passed" for c in checks)
    failed = sum(c["status"] in ("failed", "error") for c in checks)
    skipped = sum(c["status"] == "skipped" for c in checks)
    info = report.get("target_info") or {}
    lines = [
        f"## Verify {word}: {report['target']} (version {info.get('version', '?')})",
        "",
        "### Summary",
        "",
        f"Verified {report['target']} at {report['started_at']}: {passed} checks passed, "
        f"{failed} failed, {skipped} skipped; {len(report['findings'])} finding(s). "
        f"Decision **{word}**.",
        "",
        "### Evidence",
        "",
    ]
    for name, d in report.get("dependencies", {}).items():
        lines.append(f"- {name} ({d.get('backend')}): {d['status']}, {d.get('latency_ms')} ms")
    for f in report["findings"]:
        first = f["whys"][0]["evidence"] if f["whys"] else "unknown"
        lines.append(
            f"- {f['id']} ({f['class']}): {f['title']} — affects "
            f"{', '.join(f['affected'])}; evidence: {first}"
        )
    b = report.get("baseline")
    if b:
        lines.append(
            f"- Against baseline {b.get('against')}: {len(b['new'])} new, {len(b['fixed'])} fixed,"
            f" {len(b['still_failing'])} still failing, {len(b['flaky'])} flaky"
        )
    lines += ["", "### Risk", ""]
    blocking = [f for f in report["findings"] if f["class"] != "test_defect"]
    if report["decision"] == "go" and not blocking:
        lines.append("Low: the golden path and every dependency check passed.")
    elif report["decision"] == "go":
        lines.append("Medium: non-blocking findings remain (see above).")
    else:
        lines += [f"- {r}" for r in report.get("decision_reasons", [])]
    lines += ["", "### Next steps", ""]
    lines += [f"- {s}" for s in report.get("next_steps", [])]
    return "\n".join(lines) + "\n"
