"""Real pytest runs of small suites: collection errors are test defects, not product failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tokenomist.verify import baseline, gate
from tokenomist.verify.service import VerifyOptions, build_findings
from tokenomist.verify.suites import run_suite


def _write(d: Path, name: str, text: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)


def _classes(checks):
    findings = asyncio.run(build_findings(checks, VerifyOptions(target="http://t:1"), [], None))
    return {f.signature: (f.klass, f.affected) for f in findings}, findings


def test_collection_error_is_read_apart_from_test_failures(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    _write(
        suite, "test_broken.py", "import module_that_does_not_exist\n\ndef test_x():\n    pass\n"
    )
    _write(
        suite,
        "test_fine.py",
        "def test_ok():\n    pass\n\ndef test_wrong():\n    assert 1 + 1 == 3\n",
    )
    result = run_suite(str(suite), env={}, out_dir=tmp_path / "out", retries=0, cwd=tmp_path)
    assert result.exit_code == 1
    assert (result.collected, result.passed, result.failed) == (2, 1, 1)
    assert result.collection_errors == [
        {
            "module": "suite.test_broken",
            "message": "ModuleNotFoundError: No module named 'module_that_does_not_exist'",
        }
    ]
    by_sig, findings = _classes(result.checks)
    assert by_sig["pytest_import_error"] == ("test_defect", ["collect:suite.test_broken"])
    assert by_sig["fallback_product"][0] == "product_regression"
    assert by_sig["fallback_product"][1] == ["suite:suite/test_fine.py::test_wrong"]
    # The collection error alone would not block: only the real failure does.
    d = gate.decide(result.checks, findings, gate.Thresholds(), suites=[result.summary()])
    assert d.reasons == ["check suite:suite/test_fine.py::test_wrong failed (product_regression)"]


def test_empty_suite_exit_5_is_inconclusive_not_a_failure(tmp_path: Path) -> None:
    suite = tmp_path / "empty"
    suite.mkdir()
    result = run_suite(str(suite), env={}, out_dir=tmp_path / "out", cwd=tmp_path)
    assert result.exit_code == 5 and result.collected == 0
    by_sig, findings = _classes(result.checks)
    assert by_sig["pytest_no_tests"] == ("test_defect", [f"collect:{suite}"])
    d = gate.decide(result.checks, findings, gate.Thresholds(), suites=[result.summary()])
    assert (d.decision, d.reasons) == ("inconclusive", [f"suite {suite}: zero tests collected"])


def test_failing_then_passing_test_is_flaky(tmp_path: Path) -> None:
    suite = tmp_path / "flaky"
    marker = tmp_path / "seen"
    _write(
        suite,
        "test_flaky.py",
        "from pathlib import Path\n"
        f"M = Path({str(marker)!r})\n"
        "def test_sometimes():\n"
        "    first = not M.exists()\n"
        "    M.touch()\n"
        "    assert not first, 'first attempt fails'\n",
    )
    result = run_suite(str(suite), env={}, out_dir=tmp_path / "out", retries=1, cwd=tmp_path)
    [check] = result.checks
    assert check.status == "passed" and check.attempts == [False, True]
    assert baseline.compare(result.checks, {"checks": []})["flaky"] == [check.name]


def test_fixture_error_is_a_test_defect(tmp_path: Path) -> None:
    suite = tmp_path / "fx"
    _write(
        suite,
        "test_fx.py",
        "import pytest\n@pytest.fixture\ndef client():\n    raise AttributeError('no attr')\n"
        "def test_uses(client):\n    pass\n",
    )
    result = run_suite(str(suite), env={}, out_dir=tmp_path / "out", retries=0, cwd=tmp_path)
    assert result.errors == 1
    by_sig, _ = _classes(result.checks)
    assert by_sig["pytest_fixture_error"][0] == "test_defect"


def test_missing_suite_path_exit_4_is_a_test_defect(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-suite"
    result = run_suite(str(missing), env={}, out_dir=tmp_path / "out", cwd=tmp_path)
    assert result.exit_code == 4
    by_sig, findings = _classes(result.checks)
    assert by_sig == {"pytest_usage_error": ("test_defect", [f"collect:{missing}"])}
    d = gate.decide(result.checks, findings, gate.Thresholds(), suites=[result.summary()])
    assert d.decision == "inconclusive"


def test_async_tests_that_never_ran_make_the_run_inconclusive_not_go(tmp_path: Path) -> None:
    suite = tmp_path / "asuite"
    _write(
        suite, "test_mixed.py", "async def test_async():\n    pass\n\ndef test_sync():\n    pass\n"
    )
    _write(suite, "conftest.py", "")
    result = run_suite(
        str(suite),
        env={"PYTEST_ADDOPTS": "-p no:asyncio"},
        out_dir=tmp_path / "o",
        retries=0,
        cwd=tmp_path,
    )
    assert (result.collected, result.passed) == (2, 1)
    by_sig, findings = _classes(result.checks)
    assert by_sig["async_test_not_run"] == (
        "test_defect",
        ["suite:asuite/test_mixed.py::test_async"],
    )
    d = gate.decide(result.checks, findings, gate.Thresholds(), suites=[result.summary()])
    assert (d.decision, d.exit_code) == ("inconclusive", 3)
    assert d.reasons == [
        "1 test(s) did not run (async tests not run: no async plugin handled them): "
        "suite:asuite/test_mixed.py::test_async"
    ]


def test_async_tests_in_strict_mode_quote_pytests_reason_not_its_last_line(
    tmp_path: Path,
) -> None:
    """pytest-asyncio installed and active, strict mode, no marker: the test never runs."""
    suite = tmp_path / "strict"
    _write(suite, "test_unmarked.py", "async def test_unmarked():\n    pass\n")
    _write(suite, "conftest.py", "")
    result = run_suite(
        str(suite),
        env={"PYTEST_ADDOPTS": "-p asyncio -o asyncio_mode=strict"},
        out_dir=tmp_path / "o",
        retries=0,
        cwd=tmp_path,
    )
    _, findings = _classes(result.checks)
    [finding] = findings
    assert (finding.signature, finding.klass) == ("async_test_not_run", "test_defect")
    first = finding.whys[0].evidence
    assert first == (
        "strict/test_unmarked.py::test_unmarked: "
        "Failed: async def functions are not natively supported."
    )
    assert "pytest-twisted" not in first
    assert "strict mode" in finding.cause and "@pytest.mark.asyncio" in finding.cause
