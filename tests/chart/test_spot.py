"""Spot capacity in the chart: an on-demand floor plus a spot burst from one pod spec.

The floor's Deployment keeps the release's name and selector and avoids spot nodes; the
spot Deployment needs a spot node, tolerates its taint, runs at the spot priority and
is what the autoscaler scales. Service, InferencePool and PDB select both.
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from infra.values import INFERENCE_POOL_APIS, SCALED_OBJECT_API
from service.metric_names import REQUESTS_WAITING
from tests.chart.rendering import Manifest, Rendered, render
from tests.chart.scenarios import GKE_SPOT, SCENARIOS, SPOT

FULLNAME = "llm-tensorrt-llm"
CAPACITY_LABEL = "tensorrt-llm/capacity"
SPOT_LABELS = {(label["key"], label["value"]) for label in SPOT["nodeLabels"]}
RWX = {"modelCache": {"accessMode": "ReadWriteMany"}}


def deployments(rendered: Rendered) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}


def pod_spec(deployment: Manifest) -> Manifest:
    return deployment["spec"]["template"]["spec"]


def node_terms(deployment: Manifest) -> list[list[dict[str, Any]]]:
    affinity = pod_spec(deployment).get("affinity", {}).get("nodeAffinity", {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {})
    return [term["matchExpressions"] for term in required.get("nodeSelectorTerms", [])]


def spot_burst(values: dict[str, Any] | None = None) -> tuple[Manifest, Manifest, Rendered]:
    """(floor, spot) Deployments of the spot-burst scenario, with values merged in."""
    scenario = SCENARIOS["spot-burst"]
    rendered = render({**scenario.values, **(values or {})}, api_versions=scenario.api_versions)
    found = deployments(rendered)
    return found[FULLNAME], found[f"{FULLNAME}-spot"], rendered


def test_without_spot_there_is_one_deployment_and_no_capacity_label() -> None:
    (deployment,) = deployments(render({})).values()
    assert deployment["metadata"]["name"] == FULLNAME
    assert CAPACITY_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    assert node_terms(deployment) == []


def test_spot_pods_need_a_spot_node_tolerate_its_taint_and_run_at_the_spot_priority() -> None:
    _, spot, _ = spot_burst()
    # One term per spot label: a GKE Spot VM or a preemptible VM node will do.
    required = {(e["key"], e["values"][0]) for (e,) in node_terms(spot) if e["operator"] == "In"}
    assert required == SPOT_LABELS and len(node_terms(spot)) == len(SPOT_LABELS)
    tolerations = pod_spec(spot)["tolerations"]
    assert all(t in tolerations for t in GKE_SPOT.tolerations())
    assert pod_spec(spot)["priorityClassName"] == SPOT["priorityClassName"]
    assert spot["spec"]["selector"]["matchLabels"][CAPACITY_LABEL] == "spot"
    assert spot["spec"]["template"]["metadata"]["labels"][CAPACITY_LABEL] == "spot"
    # Spot pods roll without surge and Helm's wait does not count them.
    assert spot["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": "100%"}


def test_floor_pods_avoid_every_spot_label_and_keep_the_release_selector() -> None:
    floor, _, _ = spot_burst({"priorityClassName": "llm-serving"})
    (expressions,) = node_terms(floor)
    assert {(e["key"], e["values"][0]) for e in expressions if e["operator"] == "NotIn"} == (
        SPOT_LABELS
    )
    spot_taints = {t["key"] for t in GKE_SPOT.tolerations()}
    assert not spot_taints & {t["key"] for t in pod_spec(floor)["tolerations"]}
    assert pod_spec(floor)["priorityClassName"] == "llm-serving"
    assert floor["spec"]["replicas"] == SPOT["onDemandReplicas"]
    # The selector cannot change after creation: turning spot on must not touch it.
    assert CAPACITY_LABEL not in floor["spec"]["selector"]["matchLabels"]
    assert floor["spec"]["template"]["metadata"]["labels"][CAPACITY_LABEL] == "on-demand"


def test_spot_terms_are_combined_with_the_users_node_affinity() -> None:
    user_term = {"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["1"]}
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [user_term]}]
            }
        }
    }
    floor, spot, _ = spot_burst({"affinity": affinity})
    assert all(user_term in term for term in node_terms(spot) + node_terms(floor))
    assert len(node_terms(spot)) == len(SPOT_LABELS) and len(node_terms(floor)) == 1


def test_the_scaled_object_scales_the_spot_deployment_beyond_the_floor() -> None:
    _, spot, rendered = spot_burst()
    scaled = rendered.one("ScaledObject")["spec"]
    autoscaling = SCENARIOS["spot-burst"].values["autoscaling"]
    floor = SPOT["onDemandReplicas"]
    assert scaled["scaleTargetRef"]["name"] == spot["metadata"]["name"]
    assert scaled["minReplicaCount"] == autoscaling["minReplicas"] - floor == 0
    assert scaled["maxReplicaCount"] == autoscaling["maxReplicas"] - floor
    assert spot["spec"]["replicas"] == 0
    # The floor's share of the queue (floor x target) is not the spot pods' to serve.
    target = 4  # the chart's default targetRequestsWaiting
    query = scaled["triggers"][0]["metadata"]["query"]
    assert query.startswith(f"clamp_min(sum({REQUESTS_WAITING}{{")
    assert query.endswith(f" - {floor * target}, 0)")


def test_the_hpa_scales_the_spot_deployment_too() -> None:
    values = {
        "spot": SPOT,
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 5},
        **RWX,
    }
    rendered = render(values)
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == f"{FULLNAME}-spot"
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)


def test_without_autoscaling_replicas_is_the_total() -> None:
    rendered = render({"spot": SPOT, "replicaCount": 5, **RWX})
    found = deployments(rendered)
    assert found[FULLNAME]["spec"]["replicas"] == 2
    assert found[f"{FULLNAME}-spot"]["spec"]["replicas"] == 3


def test_service_pool_and_budget_select_floor_and_spot_pods() -> None:
    values = {
        "spot": SPOT,
        "replicaCount": 4,
        "routing": {"mode": "inferencePool"},
        **RWX,
    }
    rendered = render(values, api_versions=INFERENCE_POOL_APIS)
    selectors = [
        rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        rendered.one("InferencePool")["spec"]["selector"]["matchLabels"],
        *(
            s["spec"]["selector"]
            for s in rendered.of_kind("Service")
            if s["metadata"]["name"] == FULLNAME
        ),
    ]
    assert len(selectors) == 3
    for name in (FULLNAME, f"{FULLNAME}-spot"):
        labels = deployments(rendered)[name]["spec"]["template"]["metadata"]["labels"]
        for selector in selectors:
            assert selector.items() <= labels.items(), (name, selector)


RULES = {
    "no spot labels": (
        {"spot": {**SPOT, "nodeLabels": []}, "replicaCount": 2},
        "spot.nodeLabels: at least one spot node label is needed when spot.enabled",
    ),
    "floor at replicas": (
        {"spot": SPOT, "replicaCount": 2},
        "spot.onDemandReplicas: 2 leaves no spot replicas; it must be below replicaCount 2",
    ),
    "floor at max": (
        {"spot": SPOT, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 2}},
        "spot.onDemandReplicas: 2 leaves no spot burst; it must be below autoscaling.maxReplicas",
    ),
    "floor above min": (
        {"spot": SPOT, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}},
        "spot.onDemandReplicas: 2 exceeds autoscaling.minReplicas 1",
    ),
    "hpa at zero": (
        {"spot": SPOT, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}},
        "autoscaling.minReplicas: 2 must exceed spot.onDemandReplicas in mode hpa",
    ),
}


@pytest.mark.parametrize("case", RULES)
def test_spot_rules_fail_the_render_naming_the_value(case: str) -> None:
    values, message = RULES[case]
    with pytest.raises(helm_python.HelmError, match=message.replace(".", r"\.")):
        render({**values, **RWX}, api_versions=(SCALED_OBJECT_API,))


def test_notes_point_at_the_spot_deployment() -> None:
    _, _, rendered = spot_burst()
    assert f"deployment/{FULLNAME}-spot" in rendered.notes
    assert "tensorrt-llm/capacity" not in render({}).notes
