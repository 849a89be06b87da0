"""Spot burst on the local control plane: the prod stack's floor and spot pods on fake
on-demand and spot GPU nodes, and what a preemption does to them.

The fixture adds two kwok GPU nodes marked the way the prod stack's provider marks spot
nodes (the harness's spot_nodes: label and NoSchedule taint), and removes them afterwards;
the cluster's own GPU nodes are the on-demand ones. KEDA's operator does not run here,
so the test scales the spot Deployment itself, as KEDA's HPA would under load.

Preemption is the spot nodes' Node objects going away, as when the cloud deletes the
VM: the controller-manager's pod garbage collector deletes the pods bound to a missing
node (after its 40 s quarantine), the spot Deployment recreates them, and they wait
Pending, since the floor's nodes lack the spot label, until spot nodes come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.config.spot import SPOT_CONVENTIONS, SPOT_PRIORITY_VALUE
from tests.e2e.harness import (
    SERVER_PODS,
    SPOT_NODES,
    Cli,
    Stack,
    add_spot_nodes,
    delete_spot_nodes,
    kube_get,
    kubectl,
    spot_nodes,
    wait_until,
)
from tests.e2e.test_prod_stack import prod_config, prod_stack_up

NAMESPACE = "llm-spot"
SPOT_REPLICAS = 2
FLOOR_PODS = f"{SERVER_PODS},tensorrt-llm/capacity=on-demand"
SPOT_PODS = f"{SERVER_PODS},tensorrt-llm/capacity=spot"
# Pod GC's quarantine (40 s) and period (20 s), plus scheduling on a loaded machine.
PREEMPTION_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def config(project_dir: Path) -> dict[str, Any]:
    config = prod_config(project_dir)
    config["namespace"] = NAMESPACE
    config["modelCache"] = {**config["modelCache"], "storageClass": "e2e-spot"}
    return config


@pytest.fixture(scope="module")
def burst(cli: Cli, project_dir: Path, config: dict[str, Any]) -> Iterator[Stack]:
    """The stack up, with the spot Deployment scaled above the floor and its pods Ready."""
    with (
        spot_nodes(config["spot"]["provider"], config["gpu"]["nodeSelector"]),
        prod_stack_up(cli, project_dir, config, name="spot") as stack,
    ):
        kubectl(
            "scale",
            "deployment/tensorrt-llm-spot",
            f"--replicas={SPOT_REPLICAS}",
            "--namespace",
            NAMESPACE,
        )
        wait_until(
            f"{SPOT_REPLICAS} ready spot pods", lambda: len(ready(SPOT_PODS)) == SPOT_REPLICAS
        )
        yield stack


def pods(selector: str) -> list[dict[str, Any]]:
    return kube_get("pod", NAMESPACE, selector=selector)


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return conditions.get("Ready") == "True" and "deletionTimestamp" not in pod["metadata"]


def ready(selector: str) -> list[dict[str, Any]]:
    return [pod for pod in pods(selector) if is_ready(pod)]


def unschedulable(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c for c in pod["status"].get("conditions", [])}
    scheduled = conditions.get("PodScheduled", {})
    return (
        pod["status"]["phase"] == "Pending"
        and not pod["spec"].get("nodeName")
        and scheduled.get("reason") == "Unschedulable"
    )


def node_labels(pod: dict[str, Any]) -> dict[str, str]:
    return kube_get("node", name=pod["spec"]["nodeName"])["metadata"]["labels"]


def test_floor_pods_run_on_demand_and_spot_pods_on_spot_nodes(
    burst: Stack, config: dict[str, Any]
) -> None:
    spot_labels = dict(SPOT_CONVENTIONS[config["spot"]["provider"]].labels)
    floor = ready(FLOOR_PODS)
    assert len(floor) == config["spot"]["onDemandReplicas"], floor
    for pod in floor:
        labels = node_labels(pod)
        assert not spot_labels.items() & labels.items(), pod["spec"]["nodeName"]
        assert pod["spec"].get("priority", 0) == 0
    spot = ready(SPOT_PODS)
    assert len(spot) == SPOT_REPLICAS
    for pod in spot:
        assert pod["spec"]["nodeName"] in SPOT_NODES
        assert pod["spec"]["priorityClassName"] == f"{NAMESPACE}-spot"
        # The Priority admission plugin resolved the class the program created.
        assert pod["spec"]["priority"] == SPOT_PRIORITY_VALUE
        assert pod["spec"]["preemptionPolicy"] == "Never"


def test_preemption_keeps_the_floor_serving_and_spot_pods_wait_for_spot_capacity(
    burst: Stack, config: dict[str, Any]
) -> None:
    floor_before = sorted(pod["metadata"]["uid"] for pod in ready(FLOOR_PODS))
    spot_before = {pod["metadata"]["uid"] for pod in pods(SPOT_PODS)}

    delete_spot_nodes()

    def replaced_and_pending() -> bool:
        now = pods(SPOT_PODS)
        fresh = [pod for pod in now if pod["metadata"]["uid"] not in spot_before]
        return len(now) == len(fresh) == SPOT_REPLICAS and all(map(unschedulable, fresh))

    wait_until(
        "spot pods recreated and Pending with no spot node",
        replaced_and_pending,
        timeout_s=PREEMPTION_TIMEOUT_S,
        interval_s=3,
    )
    # The floor never moved: the same pods, still Ready, still behind the Service.
    assert sorted(pod["metadata"]["uid"] for pod in ready(FLOOR_PODS)) == floor_before
    endpoints = kube_get(
        "endpointslice", NAMESPACE, selector="kubernetes.io/service-name=tensorrt-llm"
    )
    ready_addresses = [
        e for s in endpoints for e in s.get("endpoints") or [] if e["conditions"].get("ready")
    ]
    assert len(ready_addresses) == len(floor_before), ready_addresses

    add_spot_nodes(config["spot"]["provider"], config["gpu"]["nodeSelector"])
    wait_until(
        "spot pods scheduled on the returned spot nodes",
        lambda: len(ready(SPOT_PODS)) == SPOT_REPLICAS,
        timeout_s=PREEMPTION_TIMEOUT_S,
        interval_s=3,
    )
    assert all(pod["spec"]["nodeName"] in SPOT_NODES for pod in ready(SPOT_PODS))
