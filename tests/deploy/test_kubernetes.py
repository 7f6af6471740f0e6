"""deploy/k8s: valid for the pinned Kubernetes version, and wired to the app as it is."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.deploy.files import K8S_VERSION, k8s_documents, k8s_one
from tokenomist.health.endpoints import router as health_router
from tokenomist.settings import Settings

HEALTH_PATHS = {route.path for route in health_router.routes}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("file", "doc"),
    k8s_documents(),
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in k8s_documents()],
)
def test_every_manifest_validates_strictly_against_the_pinned_kubernetes_schema(file, doc):
    # strict: an unknown field (a typo such as "readinesProbe") fails instead of being dropped
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_manifests_hold_every_object_a_rollout_needs():
    kinds = {d["kind"] for _, d in k8s_documents()}
    needed = {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
              "PodDisruptionBudget", "ConfigMap", "Secret", "Job"}  # fmt: skip
    assert needed <= kinds, f"missing: {sorted(needed - kinds)}"


def _api_container() -> dict:
    containers = k8s_one("Deployment", "tokenomist")["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "api")


def test_probes_ask_the_health_routes_the_app_serves():
    api = _api_container()
    probes = {kind: api[kind]["httpGet"]["path"] for kind in
              ("startupProbe", "livenessProbe", "readinessProbe")}  # fmt: skip
    assert probes["readinessProbe"] == "/health/ready"  # 503 while draining or a tier is down
    assert probes["livenessProbe"] == "/health/live"  # a lost tier must not restart the pod
    assert set(probes.values()) <= HEALTH_PATHS
    port_names = {p["name"] for p in api["ports"]}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert api[kind]["httpGet"]["port"] in port_names
    assert api["resources"]["requests"]["cpu"] and api["resources"]["requests"]["memory"]
    assert api["resources"]["limits"]["memory"]


def test_the_grace_period_outlasts_the_prestop_pause_plus_the_drain_bound():
    pod = k8s_one("Deployment", "tokenomist")["spec"]["template"]["spec"]
    config = k8s_one("ConfigMap", "tokenomist-config")["data"]
    drain_s = float(config["TOKENOMIST_DRAIN_TIMEOUT_S"])
    pre_stop = _api_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pause_s = float(pre_stop[1])
    # Kubernetes SIGKILLs at the grace period, counted from the start of preStop.
    assert pod["terminationGracePeriodSeconds"] >= pause_s + drain_s + 5
    assert drain_s > 0


def test_pods_do_not_migrate_and_the_job_runs_db_upgrade_before_the_rollout():
    config = k8s_one("ConfigMap", "tokenomist-config")["data"]
    assert config["TOKENOMIST_AUTO_MIGRATE"] == "false"
    job = k8s_one("Job", "tokenomist-migrate")
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["tokenomist", "db", "upgrade"]
    assert container["image"] == _api_container()["image"]  # the schema of the code that rolls
    assert container["envFrom"] == _api_container()["envFrom"]


def test_service_hpa_pdb_and_ingress_all_point_at_the_deployment():
    deployment = k8s_one("Deployment", "tokenomist")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = k8s_one("Service", "tokenomist")
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = k8s_one("PodDisruptionBudget", "tokenomist")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = k8s_one("HorizontalPodAutoscaler", "tokenomist")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # a rollout or a lost node keeps one serving
    backend = k8s_one("Ingress", "tokenomist")["spec"]["rules"][0]["http"]["paths"][0]
    assert backend["backend"]["service"]["name"] == service["metadata"]["name"]


def test_ingress_timeouts_outlast_an_idle_websocket_and_bodies_fit_the_ingest_limit():
    notes = k8s_one("Ingress", "tokenomist")["metadata"]["annotations"]
    settings = Settings()
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert float(notes[f"nginx.ingress.kubernetes.io/{key}"]) > settings.ws_idle_timeout_s
    body = notes["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m") and int(body[:-1]) * 1024 * 1024 >= settings.max_body_bytes
