"""A prod-like stack from Pulumi.prod.yaml on the fake GPU nodes.

Differences from production, each because this cluster cannot have the real thing:
a fixed image reference (no image build), `gpu.provisioner: gpu-operator` (kwok's
nodes advertise GPUs themselves, so no device plugin), KEDA's CRD applied instead of
its chart (`keda.install: false`: a chart from a remote repository), and a pre-made
PersistentVolume for the model cache's ReadWriteMany claim (no storage provisioner).
Secrets are set the way an operator does, with `pulumi config set --secret`.

The stack also takes the inference-stack path (`routing.mode: inferencePool`, Ingress
off) with the real CRDs installed (tests/crds.py), so the API server validates the
ScaledObject, InferencePool and HTTPRoute against their schemas, CEL rules included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crds import ecosystem_crds
from tests.e2e.harness import (
    SERVER_PODS,
    Cli,
    Stack,
    deployed,
    install_crds,
    kube_get,
    kubectl,
    set_prod_secrets,
    wait_until,
)

IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server@sha256:" + "9f" * 32


def prod_config(project_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((project_dir / "Pulumi.prod.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in data.items()}


def storage_for(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A StorageClass without a provisioner and a volume the model cache claim binds to."""
    cache = config["modelCache"]
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": cache["storageClass"]},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "e2e-model-cache"},
            "spec": {
                "capacity": {"storage": cache["size"]},
                "accessModes": [cache["accessMode"]],
                "storageClassName": cache["storageClass"],
                "persistentVolumeReclaimPolicy": "Delete",
                "nfs": {"server": "127.0.0.1", "path": "/models"},
            },
        },
    ]


@pytest.fixture(scope="module")
def config(project_dir: Path) -> dict[str, Any]:
    return prod_config(project_dir)


@pytest.fixture(scope="module")
def prod(cli: Cli, project_dir: Path, config: dict[str, Any]) -> Iterator[Stack]:
    with prod_stack_up(cli, project_dir, config) as stack:
        yield stack


@contextmanager
def prod_stack_up(
    cli: Cli, project_dir: Path, config: dict[str, Any], name: str = "prod"
) -> Iterator[Stack]:
    """The prod stack up (with this cluster's differences) for the block, then destroyed.

    Another `name` runs a copy of Pulumi.prod.yaml with config's namespace and model
    cache, so it never meets what an earlier prod stack left terminating.
    """
    items = storage_for(config)
    items[1]["metadata"]["name"] = f"e2e-{name}-model-cache"
    storage = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    kubectl("apply", "-f", "-", input_text=storage)
    install_crds(ecosystem_crds())
    if name != "prod":
        prod_file = (project_dir / "Pulumi.prod.yaml").read_text()
        (project_dir / f"Pulumi.{name}.yaml").write_text(prod_file)
    stack = Stack(cli, project_dir, name)
    stack.set("namespace", config["namespace"])
    stack.set_object("modelCache", config["modelCache"])
    stack.set_object("image", {"ref": IMAGE_REF})
    stack.set_object("gpu", {**config["gpu"], "provisioner": "gpu-operator"})
    stack.set_object("keda", {"install": False})
    stack.set_object("ingress", {"enabled": False})
    stack.set_object("routing", {"mode": "inferencePool", "gateway": {"name": "inference-gateway"}})
    set_prod_secrets(stack, name)
    try:
        with deployed(stack):
            stack.up()
            yield stack
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input_text=storage)


def test_server_pods_land_on_gpu_nodes_with_their_gpus(prod: Stack, config: dict[str, Any]) -> None:
    namespace = config["namespace"]
    pods = kube_get("pod", namespace, selector=SERVER_PODS)
    assert len(pods) == config["autoscaling"]["minReplicas"]
    gpus = str(config["tensorParallelSize"])
    for pod in pods:
        node = kube_get("node", name=pod["spec"]["nodeName"])
        assert node["status"]["allocatable"].get("nvidia.com/gpu") == "8", node["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert container["resources"]["requests"]["nvidia.com/gpu"] == gpus
        assert pod["spec"]["nodeSelector"] == config["gpu"]["nodeSelector"]
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions.get("Ready") == "True", pod["status"]


def test_autoscaler_and_disruption_budget_are_accepted(prod: Stack, config: dict[str, Any]) -> None:
    namespace = config["namespace"]
    scaled = kube_get("scaledobject.keda.sh", namespace, "tensorrt-llm")
    # The autoscaler scales the spot Deployment: the counts above the on-demand floor.
    floor = config["spot"]["onDemandReplicas"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "tensorrt-llm-spot"
    assert scaled["spec"]["minReplicaCount"] == config["autoscaling"]["minReplicas"] - floor
    assert scaled["spec"]["maxReplicaCount"] == config["autoscaling"]["maxReplicas"] - floor
    pdb = kube_get("pdb", namespace, "tensorrt-llm")
    assert pdb["spec"]["maxUnavailable"] == config["podDisruptionBudget"]["maxUnavailable"]


def test_model_cache_claim_is_bound(prod: Stack, config: dict[str, Any]) -> None:
    claims = kube_get("pvc", config["namespace"])
    assert claims, "no model cache claim"
    assert all(claim["status"]["phase"] == "Bound" for claim in claims), claims


@pytest.mark.xfail(
    strict=False,
    reason=(
        "open: in 3 of the last 4 runs the API server admitted all pods past the quota although"
        " the quota controller had counted it (status.hard set); not yet understood"
    ),
)
def test_scaling_past_the_quota_is_refused_by_quota_admission(
    prod: Stack, config: dict[str, Any]
) -> None:
    namespace = config["namespace"]
    past_quota = config["quota"]["gpus"] // config["tensorParallelSize"] + 1

    # Quota admission only enforces what the quota controller has counted: a quota whose
    # status is still empty admits everything (its hard limits are read from status).
    def counted() -> bool:
        status = kube_get("resourcequota", namespace, "server-quota").get("status", {})
        hard, used = status.get("hard", {}), status.get("used", {})
        return bool(hard) and set(hard) <= set(used)

    wait_until("the quota controller's first count of server-quota", counted, timeout_s=120)
    kubectl(
        "scale", "deployment/tensorrt-llm", f"--replicas={past_quota}", "--namespace", namespace
    )

    # The ReplicaSet's ReplicaFailure condition, not its FailedCreate event: the
    # controller-manager's event spam filter (25 per object, then one per 5 minutes) drops
    # events of a ReplicaSet that earlier scaling already made talkative.
    def quota_refusal() -> str:
        conditions = [
            condition
            for replica_set in kube_get("replicaset", namespace, selector=SERVER_PODS)
            for condition in replica_set.get("status", {}).get("conditions", [])
            if condition["type"] == "ReplicaFailure"
        ]
        messages = [condition.get("message", "") for condition in conditions]
        return next((m for m in messages if "exceeded quota: server-quota" in m), "")

    message = wait_until("a ReplicaFailure from quota admission", quota_refusal, timeout_s=180)
    assert "requests.nvidia.com/gpu" in message or "requests.cpu" in message, message
    pods = kube_get("pod", namespace, selector=SERVER_PODS)
    assert len(pods) < past_quota


def test_inference_pool_route_and_endpoint_picker_are_accepted(
    prod: Stack, config: dict[str, Any]
) -> None:
    namespace = config["namespace"]
    pool = kube_get("inferencepool.inference.networking.k8s.io", namespace, "tensorrt-llm")
    assert pool["spec"]["endpointPickerRef"]["name"] == "tensorrt-llm-epp"
    route = kube_get("httproute.gateway.networking.k8s.io", namespace, "tensorrt-llm")
    assert route["spec"]["rules"][0]["backendRefs"][0]["kind"] == "InferencePool"
    picker = kube_get("deployment", namespace, "tensorrt-llm-epp")
    assert picker["status"].get("readyReplicas") == 1, picker["status"]
    policies = {p["metadata"]["name"] for p in kube_get("networkpolicy", namespace)}
    assert "allow-endpoint-picker-ingress" in policies
