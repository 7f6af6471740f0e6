"""deploy/terraform: parses, passes checkov, and wires Cloud Run to Memorystore and Cloud SQL
over one network (the path the old platform had broken)."""

from __future__ import annotations

import ipaddress
import json
import subprocess

from tests.deploy.files import DEPLOY, ROOT, ref, tf_locals, tf_resource, tf_variable_default, tool

CHECKOV = ROOT / ".venv-checkov/bin/checkov"


def test_cloud_run_egress_reaches_memorystore_and_cloud_sql_on_one_network():
    network = "google_compute_network.main"
    connector = tf_resource("google_vpc_access_connector", "main")
    redis = tf_resource("google_redis_instance", "bus")
    sql = tf_resource("google_sql_database_instance", "main")
    peering = tf_resource("google_service_networking_connection", "services")
    reserved = tf_resource("google_compute_global_address", "services")

    assert ref(connector["network"]).startswith(network + ".")
    assert ref(redis["authorized_network"]).startswith(network + ".")
    assert ref(peering["network"]).startswith(network + ".")
    assert ref(reserved["network"]).startswith(network + ".")
    assert ref(sql["settings"][0]["ip_configuration"][0]["private_network"]).startswith(network)
    # Memorystore takes its address from the peered range the connector's network routes to.
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"
    assert ref(redis["reserved_ip_range"]) == "google_compute_global_address.services.name"
    assert reserved["purpose"] == "VPC_PEERING"
    assert "google_compute_global_address.services.name" in peering["reserved_peering_ranges"][0]
    assert sql["settings"][0]["ip_configuration"][0]["ipv4_enabled"] is False

    for kind, name in (
        ("google_cloud_run_v2_service", "api"),
        ("google_cloud_run_v2_job", "migrate"),
    ):
        template = tf_resource(kind, name)["template"][0]
        template = template.get("template", [template])[0]
        access = template["vpc_access"][0]
        assert ref(access["connector"]) == "google_vpc_access_connector.main.id"
        # Private ranges (both RFC 1918 ranges below) through the connector.
        assert access["egress"] in ("PRIVATE_RANGES_ONLY", "ALL_TRAFFIC")


def test_the_connector_and_services_ranges_are_private_and_do_not_overlap():
    connector = ipaddress.ip_network(tf_variable_default("connector_cidr"))
    services = ipaddress.ip_network(
        f"{tf_variable_default('services_cidr_address')}/{tf_variable_default('services_cidr_prefix')}"
    )
    assert connector.prefixlen == 28  # what Serverless VPC Access requires
    assert connector.is_private and services.is_private
    assert not connector.overlaps(services)
    rfc1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    # PRIVATE_RANGES_ONLY routes RFC 1918 destinations through the connector.
    assert any(services.subnet_of(n) for n in rfc1918)


def test_credentials_come_from_secret_manager_and_the_clickhouse_url_is_a_variable():
    secrets = tf_locals()["secrets"]
    assert set(secrets) == {
        "TOKENOMIST_JWT_SECRET", "TOKENOMIST_DATABASE_URL", "TOKENOMIST_REDIS_URL",
        "TOKENOMIST_CLICKHOUSE_URL",
    }  # fmt: skip
    assert ref(secrets["TOKENOMIST_CLICKHOUSE_URL"]) == "var.clickhouse_url"
    assert tf_resource("google_secret_manager_secret", "env")["for_each"] == "${local.secrets}"
    containers = tf_resource("google_cloud_run_v2_service", "api")["template"][0]["containers"][0]
    dynamic = [next(iter(d.values())) for d in containers["dynamic"]]
    by_source = {d["for_each"]: d["content"][0] for d in dynamic}
    secret_env = by_source["${local.secrets}"]
    assert "secret_key_ref" in secret_env["value_source"][0]
    assert "value" not in secret_env  # never a literal in the service spec
    # Nothing with a credential is set as plain env.
    plain = {e["name"] for e in containers.get("env", [])} | set(tf_locals()["settings"])
    assert not plain & set(secrets)


def test_cloud_run_drain_bound_fits_inside_its_ten_second_kill_delay():
    containers = tf_resource("google_cloud_run_v2_service", "api")["template"][0]["containers"][0]
    env = {e["name"]: e["value"] for e in containers["env"]}
    assert 0 < float(env["TOKENOMIST_DRAIN_TIMEOUT_S"]) < 10


def _checkov(*args: str, home) -> dict:
    checkov = tool("TOKENOMIST_CHECKOV", CHECKOV, "run `make checkov`")
    proc = subprocess.run(
        [checkov, *args, "--output", "json", "--skip-download", "--compact"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin", "HOME": str(home)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    return report[0] if isinstance(report, list) else report


def _assert_clean(report: dict) -> None:
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert not failed, f"checkov findings: {failed}"
    assert report["summary"]["passed"] > 0, "checkov checked nothing"
    assert report["summary"]["parsing_errors"] == 0
    assert len(results["skipped_checks"]) == report["summary"]["skipped"]
    for skipped in results["skipped_checks"]:
        # Every skip says why, in the file, next to the resource.
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} skipped without a stated reason"


def test_checkov_finds_nothing_in_the_terraform(tmp_path):
    _assert_clean(
        _checkov(
            "--directory", str(DEPLOY / "terraform"), "--framework", "terraform", home=tmp_path
        )
    )


def test_checkov_finds_nothing_in_the_dockerfile(tmp_path):
    _assert_clean(
        _checkov("--file", str(DEPLOY / "Dockerfile"), "--framework", "dockerfile", home=tmp_path)
    )
