"""Every TOKENOMIST_* variable a deploy file sets is a setting the app reads: a misspelt or
retired name would be ignored silently (pydantic-settings drops unknown env vars)."""

from __future__ import annotations

import re

from tests.deploy.files import DEPLOY, compose, k8s_documents, terraform
from tokenomist.settings import Settings

KNOWN = {f"TOKENOMIST_{name.upper()}" for name in Settings.model_fields}
NAME = re.compile(r"\bTOKENOMIST_[A-Z0-9_]+\b")


def _k8s() -> set[str]:
    names: set[str] = set()
    for _, doc in k8s_documents():
        if doc["kind"] == "ConfigMap":
            names |= set(doc["data"])
        elif doc["kind"] == "Secret":
            names |= set(doc.get("stringData", {})) | set(doc.get("data", {}))
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            names |= {e["name"] for e in container.get("env", [])}
    return names


def _walk_env(node, names: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                names |= {e["name"] for e in value if isinstance(e, dict) and "name" in e}
            _walk_env(value, names)
    elif isinstance(node, list):
        for item in node:
            _walk_env(item, names)


def _terraform() -> set[str]:
    parsed = terraform()
    names: set[str] = set()
    for block in parsed["locals"]:
        for key in ("settings", "secrets"):
            names |= set(block.get(key, {}))
    _walk_env(parsed["resource"], names)
    return names


def _compose() -> set[str]:
    names: set[str] = set()
    for service in compose()["services"].values():
        names |= set(service.get("environment") or {})
    return names


def _dockerfile() -> set[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    env_lines = re.findall(r"^ENV ((?:.*\\\n)*.*)$", text, re.M)
    return {n for line in env_lines for n in NAME.findall(line)}


def test_every_env_var_the_deploy_files_set_is_a_known_setting():
    found = {
        "deploy/k8s": _k8s(),
        "deploy/terraform": _terraform(),
        "deploy/compose.yaml": _compose(),
        "deploy/Dockerfile": _dockerfile(),
    }
    for where, names in found.items():
        ours = {n for n in names if n.startswith("TOKENOMIST_")}
        assert ours, f"no TOKENOMIST_ settings found in {where}: the reader is broken"
        unknown = sorted(ours - KNOWN)
        assert not unknown, f"{where} sets {unknown}, which no setting reads"
    # The whole stack is configured through the same four tier and secret settings.
    for where in ("deploy/k8s", "deploy/terraform", "deploy/compose.yaml"):
        assert {"TOKENOMIST_DATABASE_URL", "TOKENOMIST_REDIS_URL", "TOKENOMIST_CLICKHOUSE_URL",
                "TOKENOMIST_JWT_SECRET"} <= found[where], where  # fmt: skip


def test_every_tokenomist_name_mentioned_anywhere_in_deploy_is_known():
    # Comments and docs too: a README that tells operators to set a dead name misleads them.
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in {".yaml", ".tf", ".md", ".cfg", ""}:
            named = set(NAME.findall(path.read_text(errors="replace")))
            # TOKENOMIST_TEST_* point the test suite at services; the app never reads them.
            unknown = {n for n in named - KNOWN if not n.startswith("TOKENOMIST_TEST_")}
            assert not unknown, f"{path.relative_to(DEPLOY)} names {sorted(unknown)}"
