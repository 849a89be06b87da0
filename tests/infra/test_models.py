"""Several models per stack: each entry a release, rules across them, one HTTPRoute."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.config.models import releases
from infra.model_routes import MODEL_HEADER, MODELS_PATH
from infra.stack import load_stack
from infra.values import chart_values, offline_image_ref, release_values, render_stack
from service.metric_names import HTTP_REQUESTS_TOTAL, TIME_TO_FIRST_TOKEN_SECONDS
from tests.infra.harness import (
    PROJECT,
    assert_refused,
    dev_with,
    run_program,
    stack_config,
    stack_with,
)

RELEASE = "kubernetes:helm.sh/v3:Release"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
ROUTING = {"mode": "inferencePool", "gateway": {"name": "gw", "namespace": "gateway"}}
POLICY = {"ingressNamespaces": ["gateway"]}


def multi_models() -> list[dict[str, Any]]:
    return json.loads(stack_config("multi")[0][f"{PROJECT}:models"])


def multi_with_models(models: list[dict[str, Any]], **changes: Any):
    return stack_with("multi", {"models": models, **changes})


def dev_models(models: list[dict[str, Any]], **changes: Any):
    """The dev stack serving `models` (simulated engine) behind an InferencePool route."""
    return dev_with({"models": models, "routing": ROUTING, "networkPolicy": POLICY, **changes})


# ------------------------------------------------------------- one model, as before


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_without_models_is_one_release_as_before(stack: str) -> None:
    """Same component name (so the same URN) and the same values: no replacement, no diff."""
    config = load_stack(stack)
    (release,) = releases(config)
    assert (release.resource_name, release.config.release_name) == ("server", config.release_name)
    image = offline_image_ref(config)
    assert release_values(release, image) == chart_values(config, image)
    run = run_program(*stack_config(stack), stack=stack)
    (registered,) = [r for r in run.of_type(RELEASE) if r.name.startswith("server")]
    assert registered.urn.endswith("$kubernetes:helm.sh/v3:Release::server-release")
    assert "tensorrt-llm:index:ServerRelease" in registered.parent


# ----------------------------------------------------------------- several models


def test_each_version_is_its_own_release_with_its_overrides() -> None:
    by_name = {r.config.release_name: r for r in releases(load_stack("multi"))}
    assert list(by_name) == ["qwen-32b", "llama-8b-v1", "llama-8b-v2"]
    qwen, stable, canary = by_name.values()
    assert (qwen.config.tensor_parallel_size, qwen.config.replicas) == (2, 2)
    # The canary overrides its model's replicas and revision; the rest is the model's.
    assert (stable.config.replicas, canary.config.replicas) == (2, 1)
    assert stable.config.model.path == canary.config.model.path
    assert stable.config.model.revision != canary.config.model.revision
    assert {stable.served_model_name, canary.served_model_name} == {"llama-3.1-8b-instruct"}
    # Keys no entry sets are the stack's.
    assert {r.config.engine for r in by_name.values()} == {"tensorrt-llm"}


def test_any_per_release_key_can_be_overridden() -> None:
    """Overrides are the stack's own keys, deep-merged: none is listed by name."""
    models = [{"name": "a"}, {"name": "b", "server": {"maxBatchSize": 7}}]
    run = run_program(*dev_models(models))
    assert run.error is None, run.error
    a, b = (run.one(RELEASE, f"server-{name}-release").plain("values") for name in "ab")
    assert b["server"]["maxBatchSize"] == 7
    assert "maxBatchSize" not in a["server"]
    # The stack's other server keys stay under the override.
    assert a["server"]["logFormat"] == b["server"]["logFormat"] == "text"


def test_releases_share_namespace_secrets_and_policies() -> None:
    run = run_program(*stack_config("multi"), stack="multi")
    assert run.error is None, run.error
    values = {r.plain("name"): r.plain("values") for r in run.of_type(RELEASE)}
    servers = {k: v for k, v in values.items() if k != "nvidia-device-plugin"}
    secrets = {json.dumps(v["secrets"], sort_keys=True) for v in servers.values()}
    assert len(secrets) == 1, "every model reads the stack's Secrets"
    assert {v["modelVersion"] for k, v in values.items() if k.startswith("llama")} == {"v1", "v2"}
    # The releases leave the route to the stack's shared HTTPRoute.
    assert {v["routing"]["inferencePool"]["httpRoute"]["enabled"] for v in servers.values()} == {
        False
    }


def test_one_route_splits_by_model_and_weight() -> None:
    run = run_program(*stack_config("multi"), stack="multi")
    (route,) = run.of_type(HTTP_ROUTE)
    spec = route.plain("spec")
    by_header = {
        rule["matches"][0]["headers"][0]["value"]: rule
        for rule in spec["rules"]
        if "headers" in rule["matches"][0]
    }
    assert by_header["llama-3.1-8b-instruct"]["matches"][0]["headers"][0]["name"] == MODEL_HEADER
    weights = {
        ref["name"]: ref["weight"] for ref in by_header["llama-3.1-8b-instruct"]["backendRefs"]
    }
    assert weights == {"llama-8b-v1": 90, "llama-8b-v2": 10}
    assert [ref["name"] for ref in by_header["qwen2.5-32b-instruct"]["backendRefs"]] == ["qwen-32b"]
    (models_rule,) = [r for r in spec["rules"] if r["matches"][0]["path"]["value"] == MODELS_PATH]
    assert models_rule["matches"][0]["method"] == "GET"
    assert [ref["name"] for ref in models_rule["backendRefs"]] == ["qwen-32b"]
    # The route follows the pools it sends to.
    release_urns = {r.urn for r in run.of_type(RELEASE) if r.name.startswith("server-")}
    assert release_urns <= set(route.dependencies)


def model_change(
    after: list[dict[str, Any]], **changes: Any
) -> tuple[set[str], set[str], dict[str, Any]]:
    """(created, deleted, {updated: new inputs}) by resource name, from the multi stack
    to the same stack with these models: what `pulumi preview --diff` compares."""
    runs = [
        run_program(*multi_with_models(m, **changes), stack="multi")
        for m in (multi_models(), after)
    ]
    assert all(run.error is None for run in runs), [run.error for run in runs]
    old, new = ({r.name: r.plain_all() for r in run.registrations} for run in runs)
    updated = {name: new[name] for name in old.keys() & new.keys() if old[name] != new[name]}
    return new.keys() - old.keys(), old.keys() - new.keys(), updated


def llama_versions(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return next(m for m in models if m["name"] == "llama-8b")["versions"]


def test_a_weight_change_changes_only_the_route() -> None:
    models = multi_models()
    stable, canary = llama_versions(models)
    stable["weight"], canary["weight"] = 80, 20
    created, deleted, updated = model_change(models)
    assert (created, deleted, set(updated)) == (set(), set(), {"model-routes-httproute"})
    weights = [
        [ref.get("weight") for ref in rule["backendRefs"]]
        for rule in updated["model-routes-httproute"]["spec"]["rules"]
    ]
    assert [80, 20] in weights


def test_promotion_removes_the_old_release_and_leaves_the_canary_untouched() -> None:
    """The runbook's promotion: delete v1, give v2 weight 100, in one change."""
    models = multi_models()
    versions = llama_versions(models)
    versions.pop(0)
    versions[0]["weight"] = 100
    created, deleted, updated = model_change(models)
    assert created == set()
    # With no canary left, its analysis template goes too.
    assert deleted == {
        "server-llama-8b-v1",
        "server-llama-8b-v1-release",
        "canary-analysis",
        "canary-analysis-llama-8b-canary",
    }
    # The promoted release keeps its values (its pods keep serving); only the route moves.
    assert set(updated) == {"model-routes-httproute"}, set(updated)


def test_adding_a_canary_adds_its_release_and_a_backend() -> None:
    models = multi_models()
    qwen = next(m for m in models if m["name"] == "qwen-32b")
    qwen["versions"] = [
        {"name": "v1", "weight": 100},
        {"name": "v2", "weight": 0, "model": {"revision": "abc"}},
    ]
    # Naming qwen's version renames its release: qwen-32b becomes qwen-32b-v1.
    room = {"gpus": 16, "cpu": "192", "memory": "1280Gi", "pods": 20, "storage": "3Ti"}
    created, deleted, updated = model_change(models, quota=room)
    assert {"server-qwen-32b-v2-release", "server-qwen-32b-v1-release"} <= created
    assert deleted == {"server-qwen-32b", "server-qwen-32b-release"}
    assert set(updated) == {"model-routes-httproute"}


# --------------------------------------------------------------------- the rules

STABLE_CANARY = [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 20}]
CASES: dict[str, tuple[list[dict[str, Any]], dict[str, Any], str]] = {
    "weights that do not add up": (
        [{"name": "a", "versions": STABLE_CANARY}],
        {},
        "models[0].versions: weights must add up to 100, got 90+20 = 110",
    ),
    "duplicate model names": (
        [{"name": "a"}, {"name": "a"}],
        {},
        "models[1].name: must be unique (models[0] has it too), got a",
    ),
    "duplicate served names": (
        [
            {"name": "a", "model": {"servedModelName": "m"}},
            {"name": "b", "model": {"servedModelName": "m"}},
        ],
        {},
        "models[1].model.servedModelName: must be unique: model a serves it too, got m",
    ),
    "a shared key in an entry": (
        [{"name": "a", "quota": {"gpus": 1}}],
        {},
        "models[0].quota: is shared by every model: set it at the top level",
    ),
    "a misspelt key in an entry": (
        [{"name": "a", "replica": 2}],
        {},
        "models[0].replica: unknown key (did you mean replicas?), got 2",
    ),
    "a bad value in a version": (
        [{"name": "a", "versions": [{"name": "v1", "weight": 100, "replicas": 0}]}],
        {},
        "models[0].versions[0].replicas: must be >= 1, got 0",
    ),
    "a version with its own served name": (
        [
            {
                "name": "a",
                "versions": [{"name": "v1", "weight": 100, "model": {"servedModelName": "x"}}],
            }
        ],
        {},
        "models[0].versions[0].model.servedModelName: set it on models[0]",
    ),
    "quota exceeded by the sum": (
        # Each model alone fits 2 pods x 500m in the dev quota's 4 CPUs; three do not.
        [{"name": "a", "replicas": 2}, {"name": "b", "replicas": 2}, {"name": "c", "replicas": 2}],
        {"quota": {"cpu": "2500m", "memory": "8Gi", "pods": 10, "storage": "20Gi"}},
        "quota.cpu: must hold 3 x 500m + 3 x 500m + 3 x 500m (sum over releases:",
    ),
    "weights without the route": (
        [{"name": "a", "versions": [{"name": "v1", "weight": 100}]}],
        {"routing": {"mode": "service"}},
        "routing.mode: must be inferencePool when models[0].versions split traffic",
    ),
    "an ingress in front of several models": (
        [{"name": "a"}],
        {"ingress": {"enabled": True, "host": "x.example.com"}},
        "ingress.enabled: must be false with models",
    ),
    "a release rule inside an entry": (
        [{"name": "a", "autoscaling": {"enabled": True}}],
        {},
        "models[0].autoscaling.minReplicas: required when autoscaling.enabled",
    ),
    "a chart rule inside an entry": (
        [{"name": "a", "autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 2}}],
        {},
        "models[0].autoscaling.minReplicas: 0 needs autoscaling.mode keda",
    ),
    "canary analysis without the labelled series": (
        [{"name": "a"}],
        {"canaryAnalysis": {"enabled": True}},
        "canaryAnalysis.enabled: needs monitoring.enabled",
    ),
    "too long a release name": (
        [{"name": "m" * 50, "versions": [{"name": "canary", "weight": 100}]}],
        {},
        "models[0].name: with its version must make a release name of at most 53",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_models_are_one_line_naming_the_key(case: str) -> None:
    models, changes, line = CASES[case]
    error = assert_refused(dev_models(models, **changes), line)
    assert all("\n" not in issue.line(PROJECT) for issue in error.issues)


def test_quota_holds_the_sum_of_the_multi_stack() -> None:
    """Each model fits alone: taking GPUs away leaves the sum short, named with its parts."""
    error = assert_refused(
        stack_with(
            "multi",
            {"quota": {"gpus": 6, "cpu": "96", "memory": "640Gi", "pods": 10, "storage": "1500Gi"}},
        ),
        "quota.gpus: must be >= 7 (sum over releases: qwen-32b 1 on-demand + 1 spot pods "
        "+ 0 rollout surge x tensorParallelSize 2;",
    )
    assert len(error.issues) == 1


def test_the_model_list_answerer_lists_every_model_and_one_dashboard_ships() -> None:
    """GET /v1/models goes to the first model's pods: their servers list every model."""
    by_name = {}
    for release in releases(load_stack("multi")):
        values = release_values(release, offline_image_ref(release.config))
        docs = render_stack(release.config, values)
        (deployment,) = [
            yaml.safe_load(text) for path, text in docs.items() if path.endswith("/deployment.yaml")
        ]
        env = {
            e["name"]: e.get("value")
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        dashboards = [p for p in docs if p.endswith("dashboard-configmap.yaml")]
        by_name[release.config.release_name] = (env.get("LISTED_MODEL_NAMES"), len(dashboards))
    assert by_name == {
        "qwen-32b": ("llama-3.1-8b-instruct", 1),
        "llama-8b-v1": (None, 0),
        "llama-8b-v2": (None, 0),
    }


def test_canary_analysis_compares_the_canary_with_its_stable_version() -> None:
    run = run_program(*stack_config("multi"), stack="multi")
    (template,) = run.of_type("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate")
    assert template.plain("metadata")["name"] == "llama-8b-canary"
    queries = {
        m["name"]: m["provider"]["prometheus"]["query"] for m in template.plain("spec")["metrics"]
    }
    canary = 'model_name="llama-3.1-8b-instruct", version="v2"'
    stable = 'model_name="llama-3.1-8b-instruct", version="v1"'
    assert canary in queries["error-ratio"] and stable not in queries["error-ratio"]
    assert HTTP_REQUESTS_TOTAL in queries["error-ratio"]
    ratio = queries["ttft-p95-vs-stable"]
    assert TIME_TO_FIRST_TOKEN_SECONDS in ratio
    assert ratio.index(canary) < ratio.index(" / ") < ratio.index(stable)
