"""deploy/compose.yaml: valid Compose, two instances behind HAProxy on a ClickHouse server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.deploy.files import DEPLOY, compose, tool

SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


def test_compose_file_validates_against_the_compose_spec_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    jsonschema.Draft201909Validator(schema).validate(compose())


def test_the_schema_catches_a_mistyped_key():
    # The check above can fail: the vendored schema refuses unknown service keys.
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="helthcheck"):
        jsonschema.Draft201909Validator(schema).validate(broken)


def _apis() -> dict[str, dict]:
    services = compose()["services"]
    return {n: s for n, s in services.items() if s.get("command") is None and "build" in s}


def test_two_api_instances_share_postgres_redis_and_the_clickhouse_server():
    services = compose()["services"]
    apis = _apis()
    assert len(apis) >= 2
    for name, api in apis.items():
        env = api["environment"]
        assert env["TOKENOMIST_CLICKHOUSE_URL"].split("@", 1)[1].startswith("clickhouse:8123/")
        assert env["TOKENOMIST_DATABASE_URL"].split("@", 1)[1].startswith("postgres:5432/")
        assert env["TOKENOMIST_REDIS_URL"].startswith("redis://redis:6379/")
        assert env["TOKENOMIST_AUTO_MIGRATE"] == "false", name
        assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert float(api["stop_grace_period"].rstrip("s")) > float(
            env["TOKENOMIST_DRAIN_TIMEOUT_S"]
        )
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["migrate"]["command"] == ["tokenomist", "db", "upgrade"]


def test_haproxy_balances_every_api_instance_and_checks_readiness():
    lb = compose()["services"]["lb"]
    mount = next(v for v in lb["volumes"] if v.endswith("haproxy.cfg:ro"))
    cfg_path = (DEPLOY / mount.split(":", 1)[0]).resolve()
    cfg = cfg_path.read_text()
    servers = {line.split()[1] for line in cfg.splitlines() if line.strip().startswith("server ")}
    assert servers == set(_apis())
    assert "option httpchk GET /health/ready" in cfg
    assert "timeout tunnel" in cfg  # WebSockets outlive the plain HTTP timeouts
    haproxy = tool("TOKENOMIST_HAPROXY", "haproxy", "apt-get install haproxy")
    proc = subprocess.run([haproxy, "-c", "-f", str(cfg_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
