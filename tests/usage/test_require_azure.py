"""The Azure trace gate: locally a missing trace skips its suites; under CI=true (where CI
places shared/ beside the clone) it fails them, since nothing may skip there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import usage


def test_a_missing_trace_fails_under_ci(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(usage, "IN_CI", True)
    # BaseException: a skip must be caught here too, and then fail the type check below.
    with pytest.raises(BaseException, match="CI=true requires it") as raised:
        usage.require_azure(tmp_path / "absent.csv")
    assert raised.type is pytest.fail.Exception


def test_a_missing_trace_skips_locally(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(usage, "IN_CI", False)
    with pytest.raises(BaseException, match="not at") as raised:
        usage.require_azure(tmp_path / "absent.csv")
    assert raised.type is pytest.skip.Exception


def test_a_present_trace_is_returned(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(usage, "IN_CI", True)
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    assert usage.require_azure(trace) == trace
