"""A 405B-class model over two nodes per instance, from Pulumi.prod-405b.yaml, on the
local control plane with the real LeaderWorkerSet controller (scripts/cluster.sh runs it
with its webhooks and CRD, built from its Go module).

Differences from the stack file, each because this cluster cannot have the real thing:
as in tests/e2e/test_prod_stack.py (a fixed image, gpu-operator, KEDA's CRD applied, a
pre-made volume for the cache claim), plus requests sized to the fake nodes and two more
fake 8-GPU nodes, so that a second group has somewhere to go. kwok completes the prefill
Job's pod and makes scheduled pods Ready; no container runs, so the launch inside the
pods (mpirun, NCCL) is not exercised here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crds import ecosystem_crds
from tests.e2e import harness
from tests.e2e.harness import Cli, Stack, kube_get, kubectl, kubectl_run, wait_until
from tests.e2e.test_prod_stack import IMAGE_REF, storage_for

STACK = "prod-405b"
GROUP_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
# Beside scripts/cluster.sh's gpu-node-0 and gpu-node-1: room for a second group.
EXTRA_GPU_NODES = ("gpu-node-2", "gpu-node-3")


def extra_gpu_nodes() -> list[dict[str, Any]]:
    """Copies of the cluster's first GPU node under new names (kwok manages them)."""
    template = kube_get("node", name="gpu-node-0")
    nodes = []
    for name in EXTRA_GPU_NODES:
        labels = {**template["metadata"]["labels"], "kubernetes.io/hostname": name}
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                },
                "status": {
                    "capacity": template["status"]["capacity"],
                    "allocatable": template["status"]["allocatable"],
                },
            }
        )
    return nodes


@pytest.fixture(scope="module")
def config(project_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((project_dir / f"Pulumi.{STACK}.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in data.items()}


@pytest.fixture(scope="module")
def groups(cli: Cli, project_dir: Path, config: dict[str, Any]) -> Iterator[Stack]:
    nodes = json.dumps({"apiVersion": "v1", "kind": "List", "items": extra_gpu_nodes()})
    kubectl("apply", "-f", "-", input_text=nodes)
    cache = {**config["modelCache"], "storageClass": "e2e-405b"}
    storage = storage_for({"modelCache": cache})
    storage[1]["metadata"]["name"] = "e2e-405b-model-cache"
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": storage})
    kubectl("apply", "-f", "-", input_text=listed)
    harness.install_crds(ecosystem_crds())
    kubectl("wait", "--for=condition=Ready", "node", *EXTRA_GPU_NODES, "--timeout=60s")
    stack = Stack(cli, project_dir, STACK)
    stack.set_object("image", {"ref": IMAGE_REF})
    stack.set_object("gpu", {**config["gpu"], "provisioner": "gpu-operator"})
    stack.set_object("keda", {"install": False})
    stack.set_object("modelCache", cache)
    stack.set_object(
        "resources", {"requests": {"cpu": "16", "memory": "256Gi"}, "limits": {"memory": "320Gi"}}
    )
    harness.set_prod_secrets(stack, "multinode")
    with ExitStack() as cleanup:
        # Last in, first out: the stack is destroyed before its volume and nodes go.
        cleanup.callback(kubectl, "delete", "node", *EXTRA_GPU_NODES, "--wait=false")
        cleanup.callback(kubectl, "delete", "-f", "-", "--wait=false", input_text=listed)
        cleanup.enter_context(harness.deployed(stack))
        stack.up()
        yield stack


def group_pods(namespace: str) -> list[dict[str, Any]]:
    return kube_get("pod", namespace, selector="leaderworkerset.sigs.k8s.io/name")


def ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def wait_for_groups(namespace: str, groups: int, pods_per_group: int) -> list[dict[str, Any]]:
    def settled() -> list[dict[str, Any]]:
        pods = group_pods(namespace)
        live = [p for p in pods if ready(p)]
        return live if len(pods) == len(live) == groups * pods_per_group else []

    try:
        return wait_until(f"{groups} groups of {pods_per_group} ready pods", settled, timeout_s=180)
    except AssertionError as error:
        state = kubectl("get", "lws,statefulset,pod,event", "--namespace", namespace, "-o", "wide")
        raise AssertionError(f"{error}\n{state}") from None


def test_one_group_runs_a_leader_and_a_worker_on_separate_gpu_nodes(
    groups: Stack, config: dict[str, Any]
) -> None:
    namespace, nodes = config["namespace"], config["parallelism"]["nodes"]
    pods = wait_for_groups(
        namespace, groups=config["autoscaling"]["minReplicas"], pods_per_group=nodes
    )
    roles = {p["metadata"]["labels"][WORKER_INDEX]: p for p in pods}
    assert set(roles) == {"0", "1"}
    assert len({p["spec"]["nodeName"] for p in pods}) == nodes
    leader, worker = roles["0"], roles["1"]
    assert leader["spec"]["containers"][0]["command"][-1] == "leader"
    assert worker["spec"]["containers"][0]["command"][-1] == "worker"
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        node = kube_get("node", name=pod["spec"]["nodeName"])
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    # The LWS webhook told every pod where its leader is; the chart's headless Service
    # (the pods' subdomain) makes that name resolve.
    env = {e["name"]: e.get("value") for e in worker["spec"]["containers"][0]["env"]}
    group_name = kube_get("leaderworkerset.leaderworkerset.x-k8s.io", namespace)[0]["metadata"][
        "name"
    ]
    assert env["LWS_LEADER_ADDRESS"] == f"{leader['metadata']['name']}.{group_name}.{namespace}"
    assert env["LWS_GROUP_SIZE"] == str(nodes)
    headless = kube_get("service", namespace, group_name)
    assert headless["spec"]["clusterIP"] == "None"
    # Clients reach the leader only.
    slices = kube_get(
        "endpointslice", namespace, selector="kubernetes.io/service-name=tensorrt-llm"
    )
    targets = {e["targetRef"]["name"] for s in slices for e in s.get("endpoints") or []}
    assert targets == {leader["metadata"]["name"]}


def test_the_group_policy_and_autoscaler_target_the_groups(
    groups: Stack, config: dict[str, Any]
) -> None:
    namespace = config["namespace"]
    policies = {p["metadata"]["name"] for p in kube_get("networkpolicy", namespace)}
    assert "allow-group-ranks" in policies
    (group,) = kube_get("leaderworkerset.leaderworkerset.x-k8s.io", namespace)
    scaled = kube_get("scaledobject.keda.sh", namespace, "tensorrt-llm")
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert scaled["spec"]["scaleTargetRef"]["name"] == group["metadata"]["name"]


def test_deleting_a_worker_recreates_the_whole_group(groups: Stack, config: dict[str, Any]) -> None:
    namespace, nodes = config["namespace"], config["parallelism"]["nodes"]
    before = {p["metadata"]["uid"] for p in wait_for_groups(namespace, 1, nodes)}
    (worker,) = [p for p in group_pods(namespace) if p["metadata"]["labels"][WORKER_INDEX] == "1"]
    (leader,) = [p for p in group_pods(namespace) if p["metadata"]["labels"][WORKER_INDEX] == "0"]
    name = worker["metadata"]["name"]
    # kwok removes a deleted pod at once, where a kubelet takes its grace period; LWS acts
    # on the worker's deletionTimestamp, so a finalizer holds the worker in Terminating
    # (as a kubelet would) until LWS has started deleting the leader (in the foreground,
    # so the leader itself waits for the held worker).
    hold = json.dumps({"metadata": {"finalizers": ["e2e.tensorrt-llm/terminating"]}})
    kubectl("patch", "pod", name, "--namespace", namespace, "--type=merge", "-p", hold)
    kubectl("delete", "pod", name, "--namespace", namespace, "--wait=false")

    def leader_going() -> bool:
        leaders = [p for p in group_pods(namespace) if p["metadata"]["labels"][WORKER_INDEX] == "0"]
        return any(
            p["metadata"]["uid"] != leader["metadata"]["uid"]
            or p["metadata"].get("deletionTimestamp")
            for p in leaders
        )

    try:
        wait_until("LWS deleting the leader after its worker", leader_going, timeout_s=180)
    finally:
        release = json.dumps({"metadata": {"finalizers": None}})
        # Not found once the group's recreation has already removed it: nothing to release.
        kubectl_run("patch", "pod", name, "--namespace", namespace, "--type=merge", "-p", release)

    def replaced() -> list[dict[str, Any]]:
        pods = [p for p in group_pods(namespace) if ready(p)]
        fresh = [p for p in pods if p["metadata"]["uid"] not in before]
        return pods if len(pods) == len(fresh) == nodes else []

    pods = wait_until("a whole new group (leader too)", replaced, timeout_s=180)
    assert {p["metadata"]["labels"][WORKER_INDEX] for p in pods} == {"0", "1"}


def test_scaling_the_set_adds_whole_groups(groups: Stack, config: dict[str, Any]) -> None:
    namespace, nodes = config["namespace"], config["parallelism"]["nodes"]
    (group,) = kube_get("leaderworkerset.leaderworkerset.x-k8s.io", namespace)
    name = group["metadata"]["name"]
    # The scale subresource, as the HPA KEDA creates would use it.
    kubectl("scale", f"leaderworkerset/{name}", "--replicas=2", "--namespace", namespace)
    pods = wait_for_groups(namespace, groups=2, pods_per_group=nodes)
    by_group: dict[str, set[str]] = {}
    for pod in pods:
        by_group.setdefault(pod["metadata"]["labels"][GROUP_LABEL], set()).add(
            pod["metadata"]["labels"][WORKER_INDEX]
        )
    assert by_group == {"0": {"0", "1"}, "1": {"0", "1"}}
    # Four pods of 8 GPUs: one per GPU node.
    assert len({p["spec"]["nodeName"] for p in pods}) == 2 * nodes
    scale = json.loads(
        kubectl(
            "get",
            "--raw",
            f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{namespace}/leaderworkersets/{name}/scale",
        )
    )
    assert scale["spec"]["replicas"] == 2
