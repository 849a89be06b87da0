"""Spot capacity from stack config: the convention table reaches the chart, the program
creates the spot PriorityClass before the release, and the rules name the key."""

from __future__ import annotations

from functools import cache

import pytest
import yaml

from infra.config.spot import SPOT_CONVENTIONS, SPOT_PRIORITY_VALUE
from infra.offline import ProgramRun
from infra.stack import load_stack
from infra.values import chart_values, offline_image_ref
from tests.infra.harness import PROJECT, assert_refused, run_program, stack_config, stack_with
from tests.tools import REPO_ROOT

RELEASE = "kubernetes:helm.sh/v3:Release"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"


@cache
def prod_run() -> ProgramRun:
    run = run_program(*stack_config("prod"), stack="prod")
    assert run.error is None, str(run.error)
    return run


def test_prod_runs_a_floor_of_two_with_spot_burst_to_the_quota() -> None:
    prod = load_stack("prod")
    assert prod.spot.enabled and prod.spot.provider == "gke"
    burst = prod.autoscaling.max_replicas - prod.spot.on_demand_replicas
    assert (prod.spot.on_demand_replicas, burst) == (2, 4)
    assert prod.quota.gpus == prod.peak_pods * prod.tensor_parallel_size


@pytest.mark.parametrize("provider", SPOT_CONVENTIONS)
def test_each_provider_reaches_the_chart_as_its_labels_and_taints(provider: str) -> None:
    prod = load_stack("prod")
    config = prod.model_copy(update={"spot": prod.spot.model_copy(update={"provider": provider})})
    spot = chart_values(config, offline_image_ref(config))["spot"]
    convention = SPOT_CONVENTIONS[provider]
    assert [(x["key"], x["value"]) for x in spot["nodeLabels"]] == list(convention.labels)
    assert [(t["key"], t["value"]) for t in spot["tolerations"]] == list(convention.taints)
    assert all(t["effect"] == "NoSchedule" for t in spot["tolerations"])
    assert spot["priorityClassName"] == f"{prod.namespace}-spot"


def test_a_stack_without_spot_passes_no_spot_values() -> None:
    dev = load_stack("dev")
    assert "spot" not in chart_values(dev, offline_image_ref(dev))


def test_the_spot_priority_class_is_low_never_preempts_and_precedes_the_release() -> None:
    run = prod_run()
    priority = run.one(PRIORITY_CLASS, "server-namespace-spot-priority")
    assert priority.plain("value") == SPOT_PRIORITY_VALUE
    # Below the default (0), above the cluster autoscaler's expendable cutoff (-10).
    assert -10 <= SPOT_PRIORITY_VALUE < 0
    assert priority.plain("preemptionPolicy") == "Never"
    assert priority.plain("globalDefault") is False
    name = priority.plain("metadata")["name"]
    release = run.one(RELEASE, "server-release")
    assert release.plain("values")["spot"]["priorityClassName"] == name
    assert priority.urn in release.dependencies, release.urn


def test_a_stack_without_spot_creates_no_priority_class() -> None:
    run = run_program(*stack_config("dev"), stack="dev")
    assert run.error is None, str(run.error)
    assert run.of_type(PRIORITY_CLASS) == []


SPOT_ON = {"enabled": True, "provider": "aks", "onDemandReplicas": 1}
PROD_QUOTA = load_stack("prod").quota.model_dump(by_alias=True)
REFUSED = {
    "unknown provider": (
        {"spot": {**SPOT_ON, "provider": "azure"}},
        "spot.provider: must be one of 'gke', 'eks', 'karpenter' or 'aks', got azure",
    ),
    "provider missing": (
        {"spot": {"enabled": True}},
        "spot.provider: chart value spot.nodeLabels: at least one spot node label is needed",
    ),
    "floor above the most pods": (
        {"spot": {**SPOT_ON, "onDemandReplicas": 7}},
        "spot.onDemandReplicas: 7 leaves no spot burst; it must be below autoscaling.maxReplicas 6",
    ),
    "floor above the fewest pods": (
        {"spot": {**SPOT_ON, "onDemandReplicas": 3}},
        "spot.onDemandReplicas: 3 exceeds autoscaling.minReplicas 2",
    ),
    "negative floor": (
        {"spot": {**SPOT_ON, "onDemandReplicas": -1}},
        "spot.onDemandReplicas: must be >= 0, got -1",
    ),
    "quota short of floor + burst": (
        {"spot": SPOT_ON, "quota": {**PROD_QUOTA, "gpus": 8}},
        "quota.gpus: must be >= 12 (1 on-demand + 5 spot pods + 0 rollout surge "
        "x tensorParallelSize 2), got 8",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_spot_config_is_one_line_naming_the_key(case: str) -> None:
    changes, line = REFUSED[case]
    assert_refused(stack_with("prod", changes), line)


def test_spot_without_gpus_is_refused() -> None:
    assert_refused(
        stack_with("dev", {"replicas": "2", "spot": SPOT_ON}),
        "spot.enabled: needs gpu.enabled: spot capacity is for GPU node pools, got true",
    )


def test_a_models_entry_sets_its_own_spot_section_and_its_errors_name_the_entry() -> None:
    models = yaml.safe_load((REPO_ROOT / "Pulumi.multi.yaml").read_text())["config"][
        f"{PROJECT}:models"
    ]
    assert models[0]["spot"]["enabled"] and "spot" not in models[1]
    models[0]["spot"] = {**models[0]["spot"], "onDemandReplicas": 2}
    assert_refused(
        stack_with("multi", {"models": models}),
        "models[0].spot.onDemandReplicas: 2 leaves no spot replicas; it must be below "
        "replicaCount 2",
    )


def test_only_the_multi_stacks_release_with_spot_gets_spot_values() -> None:
    run = run_program(*stack_config("multi"), stack="multi")
    assert run.error is None, str(run.error)
    spot = {
        r.plain("name"): r.plain("values").get("spot")
        for r in run.of_type(RELEASE)
        if r.name.startswith("server-")
    }
    assert spot["qwen-32b"]["onDemandReplicas"] == 1
    assert spot["qwen-32b"]["nodeLabels"] == SPOT_CONVENTIONS["gke"].node_labels()
    assert spot["llama-8b-v1"] is None and spot["llama-8b-v2"] is None
    assert len(run.of_type(PRIORITY_CLASS)) == 1
