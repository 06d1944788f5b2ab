"""infra/k8s/: every manifest validated offline against the Kubernetes schemas that
`kubernetes-validate` ships (strict: an unknown field is an error), and checked against what
Podium needs: a scaled, probed gateway behind a Service and an HPA, warm executors on GPU
nodes, pinned images, and names that match the code (pools, settings, ports).
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deployments.local_stack import (
    EXECUTOR_DERIVED_OFF,
    PROJECT_DIR,
    WARM_POOL,
    WARM_QUEUE,
    WORK_POOLS,
)
from podium.settings import Settings

K8S = PROJECT_DIR / "infra" / "k8s"
# Kubernetes versions a platform team may run today: the manifests must hold on each.
VERSIONS = ("1.33", "1.37")
PROJECT_VERSION = re.search(
    r'^version = "([^"]+)"', (PROJECT_DIR / "pyproject.toml").read_text(), re.M
).group(1)


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


DOCS = documents()
BY_KIND = {(d["kind"], d["metadata"]["name"]): d for _, d in DOCS}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    """The validator is live: a typo in a field name fails."""
    doc = yaml.safe_load(yaml.safe_dump(BY_KIND[("Deployment", "podium-gateway")]))
    doc["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


DEPLOYMENTS = ["podium-gateway", "podium-warm-executor", "podium-warm-derived", "podium-worker-cpu"]


def test_the_expected_resources() -> None:
    assert {
        ("ConfigMap", "podium-env"),
        ("Deployment", "podium-gateway"),
        ("Service", "podium-gateway"),
        ("HorizontalPodAutoscaler", "podium-gateway"),
        ("PodDisruptionBudget", "podium-gateway"),
        ("Deployment", "podium-warm-executor"),
        ("Deployment", "podium-warm-derived"),
        ("Deployment", "podium-worker-cpu"),
    } <= set(BY_KIND)


def test_gateway_is_replicated_probed_and_autoscaled() -> None:
    deployment = BY_KIND[("Deployment", "podium-gateway")]
    assert deployment["spec"]["replicas"] >= 2
    (container,) = containers(deployment)
    assert container["command"] == ["podium", "gateway"]
    port = container["ports"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["PODIUM_GATEWAY__PORT"]) == port["containerPort"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "livenessProbe" in container
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service = BY_KIND[("Service", "podium-gateway")]
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    hpa = BY_KIND[("HorizontalPodAutoscaler", "podium-gateway")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "podium-gateway"
    assert (
        hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )
    assert "cpu" in container["resources"]["requests"], "an HPA on CPU needs a CPU request"


def test_warm_executor_runs_on_gpu_nodes() -> None:
    deployment = BY_KIND[("Deployment", "podium-warm-executor")]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    (container,) = containers(deployment)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    command = container["command"]
    assert command[:3] == ["python", "-m", "deployments.warm_executor"]
    assert command[command.index("--pool") + 1] == WARM_POOL
    assert command[command.index("--queue") + 1] == WARM_QUEUE
    assert "gpu" in container["image"]


def test_counts_and_recommendations_run_warm_in_a_deployment_of_their_own() -> None:
    """`podium-warm-derived` runs the refresher on CPU nodes, probed; the GPU executors leave
    counts and recommendations to it, as `podium up` and the production stack do."""
    deployment = BY_KIND[("Deployment", "podium-warm-derived")]
    spec = deployment["spec"]["template"]["spec"]
    assert "nodeSelector" not in spec and "tolerations" not in spec
    (container,) = containers(deployment)
    assert "gpu" not in container["image"] and "nvidia.com/gpu" not in str(container)
    command = container["command"]
    assert command[:3] == ["python", "-m", "deployments.warm_derived"]
    port = int(command[command.index("--probe-port") + 1])
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PODIUM_OPS__EXECUTOR_HOST"] == "0.0.0.0"  # probes reachable from the kubelet
    (executor,) = containers(BY_KIND[("Deployment", "podium-warm-executor")])
    executor_env = {e["name"]: e["value"] for e in executor["env"]}
    assert executor_env["PODIUM_DERIVED__WARM"] == EXECUTOR_DERIVED_OFF["PODIUM_DERIVED__WARM"]


def test_cpu_worker_serves_the_cpu_pool() -> None:
    (container,) = containers(BY_KIND[("Deployment", "podium-worker-cpu")])
    command = container["command"]
    assert command[command.index("--pool") + 1] == WORK_POOLS[0]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_images_are_pinned_to_the_project_version(name: str) -> None:
    for container in containers(BY_KIND[("Deployment", name)]):
        tag = container["image"].rsplit(":", 1)[1]
        assert tag == PROJECT_VERSION, container["image"]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_pod_reads_the_config_and_secrets_and_runs_unprivileged(name: str) -> None:
    spec = BY_KIND[("Deployment", name)]["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    for container in spec["containers"]:
        sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"configMapRef": "podium-env", "secretRef": "podium-secrets"}


def test_config_holds_no_secret_and_valid_settings() -> None:
    data = BY_KIND[("ConfigMap", "podium-env")]["data"]
    assert not [k for k in data if re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY", k)]
    podium = {k: v for k, v in data.items() if k.startswith("PODIUM_")}
    # What the pods read parses as Podium settings (with the secrets the Secret adds).
    env = {
        **podium,
        "PODIUM_GATEWAY__SECRET": "a" * 32,
        "PODIUM_REVIEW__PUSH_SECRET": "b" * 32,
    }
    nested: dict[str, Any] = {}
    for key, value in env.items():
        parts = key.removeprefix("PODIUM_").lower().split("__")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    settings = Settings(**nested)
    assert settings.lake_url.startswith("s3://")
    assert settings.environment == "production"
    assert data["PREFECT_API_URL"] == data["PODIUM_PREFECT__API_URL"]
