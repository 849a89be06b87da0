"""parallelism.nodes > 1: one model instance per LeaderWorkerSet group instead of a pod.

The "multi-node" scenario (tests/chart/scenarios.py) is TP 8 x PP 2 over two 8-GPU
nodes; the generic chart tests (Pod Security, schemas, the LWS CRD's own schema, checkov)
already cover it; these state what makes it a working group.
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from infra.values import LEADER_WORKER_SET_API
from service import multinode
from tests.chart.rendering import RELEASE, Rendered, env_of, render
from tests.chart.scenarios import SCENARIOS

Manifest = dict[str, Any]
GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"


@pytest.fixture(scope="module")
def group(rendered: dict[str, Rendered]) -> Manifest:
    return rendered["multi-node"].one("LeaderWorkerSet")


def role(group: Manifest, name: str) -> Manifest:
    return group["spec"]["leaderWorkerTemplate"][f"{name}Template"]["spec"]


def server(spec: Manifest) -> Manifest:
    (container,) = spec["containers"]
    return container


def test_multi_node_renders_groups_instead_of_the_deployment(
    rendered: dict[str, Rendered], group: Manifest
) -> None:
    assert rendered["multi-node"].of_kind("Deployment") == []
    assert group["spec"]["replicas"] == 2
    template = group["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
    # LeaderReady would deadlock: the leader becomes ready only after its workers joined.
    assert group["spec"]["startupPolicy"] == "LeaderCreated"
    annotations = group["metadata"]["annotations"]
    assert annotations["leaderworkerset.sigs.k8s.io/exclusive-topology"] == "example.com/rack"


def test_each_pod_takes_its_share_of_the_ranks(group: Manifest) -> None:
    for name in ("leader", "worker"):
        resources = server(role(group, name))["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == 8, name
        # 8 GPUs x memoryPerRankGi 24 + shm 8Gi.
        assert resources["requests"]["memory"] == "200Gi", name


def test_only_the_leader_serves_and_is_probed_for_readiness(group: Manifest) -> None:
    leader, worker = server(role(group, "leader")), server(role(group, "worker"))
    assert leader["command"] == ["python", "-m", "service.multinode", "leader"]
    assert worker["command"] == ["python", "-m", "service.multinode", "worker"]
    assert {p["name"] for p in leader["ports"]} == {"http"}
    assert leader["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert leader["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert {p["name"] for p in worker["ports"]} == {"ssh"}
    assert "readinessProbe" not in worker and "startupProbe" not in worker
    assert worker["livenessProbe"] == {**worker["livenessProbe"], "tcpSocket": {"port": "ssh"}}


def test_the_launcher_gets_the_group_it_runs(group: Manifest) -> None:
    env = {**env_of(server(role(group, "leader"))), "LWS_LEADER_ADDRESS": "g-0.g.ns"}
    env["LWS_GROUP_SIZE"] = str(group["spec"]["leaderWorkerTemplate"]["size"])
    launch = multinode.Group.from_env(env)
    assert (launch.ranks, launch.slots) == (16, 8)
    key_dir = {m["name"]: m["mountPath"] for m in server(role(group, "worker"))["volumeMounts"]}
    assert str(launch.key_file.parent) == key_dir["mpi-ssh"]
    assert env["PIPELINE_PARALLEL_SIZE"] == "2" and env["TENSOR_PARALLEL_SIZE"] == "8"


def test_a_groups_pods_never_share_a_node(group: Manifest) -> None:
    for name in ("leader", "worker"):
        terms = role(group, name)["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        (term,) = [t for t in terms if t.get("matchLabelKeys") == [GROUP_KEY]]
        assert term["topologyKey"] == "kubernetes.io/hostname", name


def test_clients_autoscaler_and_pool_reach_leaders_and_whole_groups(
    rendered: dict[str, Rendered], group: Manifest
) -> None:
    result = rendered["multi-node"]
    services = {s["metadata"]["name"]: s for s in result.of_kind("Service")}
    client = services[RELEASE + "-tensorrt-llm"]
    assert client["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    # The headless Service LWS would otherwise create, named as the set: the pods' subdomain.
    headless = services[group["metadata"]["name"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    target = result.one("ScaledObject")["spec"]["scaleTargetRef"]
    assert target == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": group["metadata"]["name"],
    }


def test_the_group_key_secret_is_mounted_on_every_pod(
    rendered: dict[str, Rendered], group: Manifest
) -> None:
    (secret,) = [
        s for s in rendered["multi-node"].of_kind("Secret") if "id_ecdsa" in s.get("data", {})
    ]
    for name in ("leader", "worker"):
        volumes = {v["name"]: v for v in role(group, name)["volumes"]}
        assert volumes["mpi-ssh"]["secret"]["secretName"] == secret["metadata"]["name"]


def test_single_node_keeps_the_deployment(rendered: dict[str, Rendered]) -> None:
    for scenario in ("defaults", "gpu-tp2"):
        result = rendered[scenario]
        assert result.of_kind("LeaderWorkerSet") == [], scenario
        assert "worker-index" not in str(result.one("Service")["spec"]["selector"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"parallelism": {"pipeline": 1, "nodes": 3, "exclusiveTopology": ""}},
            "parallelism.nodes: 3 must divide tensorParallelSize x parallelism.pipeline = 8",
        ),
        (
            {"engine": "transformers", "tensorParallelSize": 1},
            "parallelism.pipeline: 2 needs engine tensorrt-llm",
        ),
    ],
)
def test_the_chart_refuses_groups_it_cannot_split(change: Manifest, message: str) -> None:
    scenario = SCENARIOS["multi-node"]
    with pytest.raises(helm_python.HelmError, match=message):
        render({**scenario.values, **change}, api_versions=scenario.api_versions)


def test_groups_need_the_leaderworkerset_api() -> None:
    scenario = SCENARIOS["multi-node"]
    apis = [api for api in scenario.api_versions if api != LEADER_WORKER_SET_API]
    with pytest.raises(helm_python.HelmError, match="install LeaderWorkerSet"):
        render(scenario.values, api_versions=apis)
