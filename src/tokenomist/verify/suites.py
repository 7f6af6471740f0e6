"""Run pytest suites against the target and read their JUnit XML.

Collection errors are read separately from test failures: a module that does not import is a
test defect, not a product failure, and ``--continue-on-collection-errors`` lets the other
modules still run. pytest exit codes 2 (interrupted), 4 (usage) and 5 (nothing collected) say
nothing about the product either; they become ``collection`` checks with ``pytest:exit:N``.
The suite gets the target and credentials through the environment
(``TOKENOMIST_VERIFY_TARGET``, ``TOKENOMIST_VERIFY_USER`` …), which ``tests/staging``'s
``--target`` option defaults to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from tokenomist.verify.schemas import Check

NOT_PRODUCT_EXIT_CODES = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests"}


@dataclass
class SuiteResult:
    path: str
    exit_code: int
    collected: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    junit: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exit_code": self.exit_code,
            "collected": self.collected,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "collection_errors": self.collection_errors,
            "junit": self.junit,
        }


def _pytest(
    args: list[str], env: dict[str, str], junit: Path, timeout_s: float, cwd: Path
) -> tuple[int, str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "-p",
        "no:cacheprovider",
        "-q",
        "--continue-on-collection-errors",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
    ]
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            cmd,
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or "") if isinstance(exc.stdout, str) else ""
        return 124, out + f"\npytest did not finish within {timeout_s:g}s"
    return proc.returncode, (proc.stdout + proc.stderr)


def run_suite(
    path: str,
    *,
    env: dict[str, str],
    out_dir: Path,
    index: int = 0,
    timeout_s: float = 900.0,
    retries: int = 1,
    cwd: Path | None = None,
) -> SuiteResult:
    cwd = cwd or Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = out_dir / f"suite-{index}.xml"
    code, output = _pytest([path], env, junit, timeout_s, cwd)
    result = parse_junit(path, code, junit if junit.exists() else None, output)
    result.junit = str(junit)
    failing = [c for c in result.checks if c.status == "failed" and c.data.get("nodeid")]
    for _ in range(retries):
        if not failing:
            break
        rerun_xml = out_dir / f"suite-{index}-rerun.xml"
        _, rerun_out = _pytest([c.data["nodeid"] for c in failing], env, rerun_xml, timeout_s, cwd)
        if not rerun_xml.exists():
            break
        again = {c.name: c for c in parse_junit(path, 0, rerun_xml, rerun_out).checks}
        still: list[Check] = []
        for c in failing:
            retry = again.get(c.name)
            if retry is None:
                continue
            c.attempts.append(retry.status == "passed")
            if retry.status == "passed":
                c.status = "passed"
                c.message = f"passed on retry (failed first: {c.message})"
            else:
                still.append(c)
        failing = still
    return result


def parse_junit(path: str, exit_code: int, junit: Path | None, output: str) -> SuiteResult:
    result = SuiteResult(path=path, exit_code=exit_code)
    if junit is not None:
        root = ET.parse(junit).getroot()  # noqa: S314 - pytest's own output
        for case in root.iter("testcase"):
            _read_case(result, case)
    if (
        exit_code in NOT_PRODUCT_EXIT_CODES
        and not result.collection_errors
        and (exit_code != 2 or result.collected == 0)
    ):
        what = NOT_PRODUCT_EXIT_CODES[exit_code]
        tags = [f"pytest:exit:{exit_code}"] + (["pytest:no_tests"] if exit_code == 5 else [])
        result.checks.append(
            Check(
                f"collect:{path}",
                "collection",
                "error",
                message=f"pytest exit {exit_code} ({what}) for suite {path}",
                signals=[*tags, output[-1500:]],
                evidence=[f"pytest exit code {exit_code}: {_last_line(output)}"],
                attempts=[False],
            )
        )
    if exit_code == 124:
        result.checks.append(
            Check(
                f"suite:{path}",
                "suite",
                "error",
                message=_last_line(output),
                signals=["timed out", output[-500:]],
                evidence=[_last_line(output)],
                attempts=[False],
            )
        )
    return result


def _read_case(result: SuiteResult, case: ET.Element) -> None:
    classname, name = case.get("classname", ""), case.get("name", "")
    ms = float(case.get("time") or 0) * 1000
    error = case.find("error")
    failure = case.find("failure")
    skipped = case.find("skipped")
    if error is not None and error.get("message") == "collection failure":
        _read_collection_error(result, name, ms, error.text or "")
        return
    result.collected += 1
    nodeid = _nodeid(case)
    check_name = f"suite:{nodeid or f'{classname}::{name}'}"
    data = {"nodeid": nodeid} if nodeid else {}
    if error is not None:
        result.errors += 1
        text = error.text or ""
        result.checks.append(
            Check(
                check_name,
                "suite",
                "error",
                ms,
                error.get("message") or _last_error_line(text),
                signals=["pytest:setup_error", error.get("message") or "", text[-3000:]],
                evidence=[f"{nodeid}: {_last_error_line(text)}"],
                attempts=[False],
                data=data,
            )
        )
    elif failure is not None:
        result.failed += 1
        text = failure.text or ""
        result.checks.append(
            Check(
                check_name,
                "suite",
                "failed",
                ms,
                (failure.get("message") or _last_error_line(text))[:300],
                signals=[failure.get("message") or "", text[-3000:]],
                evidence=[f"{nodeid}: {_reason_line(failure.get('message'), text)}"],
                attempts=[False],
                data=data,
            )
        )
    elif skipped is not None:
        result.skipped += 1
        reason = skipped.get("message") or ""
        result.checks.append(Check(check_name, "suite", "skipped", ms, reason, data=data))
    else:
        result.passed += 1
        result.checks.append(Check(check_name, "suite", "passed", ms, attempts=[True], data=data))


def _read_collection_error(result: SuiteResult, module: str, ms: float, text: str) -> None:
    """A module that did not import: a test defect, counted apart from the tests."""
    result.collection_errors.append({"module": module, "message": _last_error_line(text)})
    result.checks.append(
        Check(
            f"collect:{module}",
            "collection",
            "error",
            ms,
            f"collection failed: {_last_error_line(text)}",
            signals=["pytest:collection_error", text[-3000:]],
            evidence=[f"collecting {module}: {_last_error_line(text)}"],
            attempts=[False],
        )
    )


def _nodeid(case: ET.Element) -> str | None:
    """``file::[Class::]name`` from an xunit1 testcase (file, classname, name)."""
    file_, classname, name = case.get("file"), case.get("classname", ""), case.get("name", "")
    if not file_:
        return None
    module = Path(file_).with_suffix("").as_posix().replace("/", ".")
    rest = classname[len(module) :].lstrip(".") if classname.startswith(module) else ""
    return "::".join([file_, *([rest] if rest else []), name])


def _reason_line(message: str | None, text: str) -> str:
    """The line saying why a test failed: pytest's own reason (the failure message's first
    line, e.g. "Failed: async def functions are not natively supported.") rather than the
    report's last line (which, for that reason, is "- pytest-twisted" of a plugin list)."""
    first = next((ln.strip() for ln in (message or "").splitlines() if ln.strip()), "")
    return first or _last_error_line(text)


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E ")]
    if errors:
        return errors[-1][1:].strip()
    return lines[-1] if lines else ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
