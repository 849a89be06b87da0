"""Two models and a 90/10 canary (Pulumi.multi.yaml) on the local control plane.

The stack applies through the real Pulumi CLI and Kubernetes provider with the real
Gateway API, Inference Extension and Argo Rollouts AnalysisTemplate CRDs installed
(tests/crds.py): one Helm release per model version, each with its InferencePool and
endpoint picker, the program's shared HTTPRoute with the canary's weight, and the
canary's AnalysisTemplate. Then a weight edit in the stack file
previews as one update of that route and nothing else.

Differences from production as in test_prod_stack: a fixed image reference,
`gpu.provisioner: gpu-operator` (kwok's nodes advertise GPUs themselves), and the
model caches as emptyDir (no storage provisioner here). Two fake spot GPU nodes join
the cluster for the model with spot burst, whose spot pod must be Ready too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.crds import analysis_template_crd, ecosystem_crds
from tests.e2e.harness import (
    PROJECT,
    Cli,
    Stack,
    deployed,
    install_crds,
    kube_get,
    set_prod_secrets,
    spot_nodes,
    wait_until,
)

IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server@sha256:" + "9f" * 32
ROUTE = "httproute.gateway.networking.k8s.io"
POOL = "inferencepool.inference.networking.k8s.io"


def stack_config(project_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((project_dir / "Pulumi.multi.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in data.items()}


# Its own namespace: the prod stack's tests run later in "llm", and a namespace deleted
# and created again under the same name can meet quota state the API server still holds.
NAMESPACE = "llm-multi"


@pytest.fixture(scope="module")
def config(project_dir: Path) -> dict[str, Any]:
    return {**stack_config(project_dir), "namespace": NAMESPACE}


def e2e_models(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The stack's models with caches small enough for emptyDir on the fake nodes."""
    models = json.loads(json.dumps(config["models"]))
    for model in models:
        if "modelCache" in model:
            model["modelCache"] = {"size": "5Gi"}
    return models


def set_models(stack: Stack, models: list[dict[str, Any]]) -> None:
    """Replace the stack file's models list, as an editor does."""
    data = yaml.safe_load(stack.stack_file.read_text())
    data["config"][f"{PROJECT}:models"] = models
    stack.stack_file.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def multi(cli: Cli, project_dir: Path, config: dict[str, Any]) -> Iterator[Stack]:
    install_crds([*ecosystem_crds(), analysis_template_crd()])
    stack = Stack(cli, project_dir, "multi")
    stack.set("namespace", NAMESPACE)
    stack.set_object("image", {"ref": IMAGE_REF})
    stack.set_object("gpu", {**config["gpu"], "provisioner": "gpu-operator"})
    stack.set_object("modelCache", {"type": "emptyDir", "size": "5Gi"})
    set_models(stack, e2e_models(config))
    set_prod_secrets(stack, "multi")
    # A model with spot burst needs spot nodes for its spot pods to be Ready.
    providers = {m["spot"]["provider"] for m in config["models"] if "spot" in m}
    (provider,) = providers
    with spot_nodes(provider, config["gpu"]["nodeSelector"]), deployed(stack):
        stack.up()
        yield stack


def release_names(config: dict[str, Any]) -> list[str]:
    names = []
    for model in config["models"]:
        versions = model.get("versions") or [None]
        names += [model["name"] + (f"-{v['name']}" if v else "") for v in versions]
    return names


def test_every_version_runs_as_its_own_ready_release(multi: Stack, config: dict[str, Any]) -> None:
    namespace = config["namespace"]
    for name in release_names(config):
        selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=inference-server"

        def ready(selector: str = selector) -> bool:
            pods = kube_get("pod", namespace, selector=selector)
            return bool(pods) and all(
                {c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready")
                == "True"
                for p in pods
            )

        wait_until(f"ready pods of release {name}", ready, timeout_s=180)
        pool = kube_get(POOL, namespace, name)
        assert pool["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == name
    statuses = multi.outputs()["releaseStatuses"].value
    assert statuses == {name: "deployed" for name in release_names(config)}


def test_the_shared_route_splits_the_canary_90_10(multi: Stack, config: dict[str, Any]) -> None:
    namespace = config["namespace"]
    route = kube_get(ROUTE, namespace, config["releaseName"])
    rules = {
        rule["matches"][0]["headers"][0]["value"]: rule["backendRefs"]
        for rule in route["spec"]["rules"]
        if rule["matches"][0].get("headers")
    }
    assert {ref["name"]: ref.get("weight") for ref in rules["llama-3.1-8b-instruct"]} == {
        "llama-8b-v1": 90,
        "llama-8b-v2": 10,
    }
    # No release renders its own route: the shared one is the only one.
    assert [r["metadata"]["name"] for r in kube_get(ROUTE, namespace)] == [config["releaseName"]]


def test_the_canary_analysis_template_is_accepted(multi: Stack, config: dict[str, Any]) -> None:
    """Argo Rollouts' real CRD admits the template (its controller is not run here)."""
    template = kube_get("analysistemplate.argoproj.io", config["namespace"], "llama-8b-canary")
    names = [metric["name"] for metric in template["spec"]["metrics"]]
    assert names == ["error-ratio", "ttft-p95-vs-stable"]


def test_a_weight_change_previews_as_that_change_alone(
    multi: Stack, config: dict[str, Any]
) -> None:
    models = e2e_models(config)
    llama = next(m for m in models if m.get("versions"))
    llama["versions"][0]["weight"], llama["versions"][1]["weight"] = 80, 20
    set_models(multi, models)
    preview = multi.preview()
    changes = {k: v for k, v in preview.change_summary.items() if k != "same"}
    assert changes == {"update": 1}, preview.stdout
    # Every changed line of the diff: the route's two weights, nothing else.
    changed = [line.strip() for line in preview.stdout.splitlines() if line.strip()[:2] == "~ "]
    assert changed == [
        "~ kubernetes:gateway.networking.k8s.io/v1:HTTPRoute: (update)",
        "~ spec: {",
        "~ rules: [",
        "~ [1]: {",
        "~ backendRefs: [",
        "~ [0]: {",
        "~ weight: 90 => 80",
        "~ [1]: {",
        "~ weight: 10 => 20",
        "~ 1 to update",
    ], preview.stdout
    assert "HTTPRoute::model-routes-httproute]" in preview.stdout
