"""The deployment files under deploy/, loaded the way each tool reads them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions

from tests.support.env import IN_CI

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.31.0"  # the oldest Kubernetes minor the manifests promise to apply on


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every document of every manifest."""
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def k8s_one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for _, d in k8s_documents()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]  # fmt: skip
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


_OPTIONS = SerializationOptions(with_comments=False, strip_string_quotes=True)


def terraform() -> dict[str, list[Any]]:
    """Every top-level block of deploy/terraform/*.tf, merged by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted((DEPLOY / "terraform").glob("*.tf")):
        with path.open() as fh:
            parsed = hcl2.load(fh, serialization_options=_OPTIONS)
        for key, blocks in parsed.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def tf_resource(kind: str, name: str) -> dict[str, Any]:
    for block in terraform()["resource"]:
        if kind in block and name in block[kind]:
            return block[kind][name]
    raise AssertionError(f"deploy/terraform has no resource {kind}.{name}")


def tf_variable_default(name: str) -> Any:
    for block in terraform()["variable"]:
        if name in block:
            return block[name]["default"]
    raise AssertionError(f"deploy/terraform has no variable {name}")


def tf_locals() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in terraform()["locals"]:
        out.update(block)
    return out


def ref(expr: str) -> str:
    """``${google_x.y.id}`` → ``google_x.y.id``."""
    match = re.fullmatch(r"\$\{(.+)\}", str(expr))
    assert match, f"{expr!r} is not a reference"
    return match.group(1)


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def tool(env_var: str, default: Path | str, install_hint: str) -> str:
    """A command-line tool the checks run; absent → skip locally, fail under CI=true."""
    named = os.environ.get(env_var)
    candidate = Path(named) if named else Path(default)
    found = str(candidate) if candidate.exists() else shutil.which(str(default))
    if not found:
        message = f"{candidate} not found ({install_hint}; or set {env_var})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found
