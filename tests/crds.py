"""The CRDs of the Kubernetes inference stack, as the cluster would hold them.

KEDA's, the Gateway API's and LeaderWorkerSet's come from their Go modules (`go mod
download` into the module cache, as the e2e toolchain fetches its modules); the Inference
Extension's module
is not in the Go module proxy, so its InferencePool v1 schema is test data copied from
upstream's CRD (tests/chart/data/inferencepool_v1_schema.json names file and commit)
and the CRD around it is rebuilt with upstream's group, names and scope.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.canary_analysis import ARGO_ROLLOUTS_VERSION
from infra.keda import KEDA_CHART
from infra.stack import load_stack
from infra.values import render_stack
from tests.tools import toolchain_pin

# The Gateway API release whose standard-channel CRDs the cluster is expected to run.
GATEWAY_API_MODULE = ("sigs.k8s.io/gateway-api", "v1.6.3")
KEDA_MODULE = ("github.com/kedacore/keda/v2", f"v{KEDA_CHART.version}")
# The version whose controller the e2e cluster runs (scripts/toolchain.sh).
LWS_MODULE = ("sigs.k8s.io/lws", toolchain_pin("LWS_VERSION"))
ARGO_ROLLOUTS_MODULE = ("github.com/argoproj/argo-rollouts", ARGO_ROLLOUTS_VERSION)
INFERENCE_POOL_SCHEMA = Path(__file__).parent / "chart" / "data" / "inferencepool_v1_schema.json"

# (apiVersion, kind) -> (module, CRD file inside it)
MODULE_CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): (
        KEDA_MODULE,
        "config/crd/bases/keda.sh_scaledobjects.yaml",
    ),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): (
        GATEWAY_API_MODULE,
        "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    ),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): (
        LWS_MODULE,
        "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ),
}


class ModuleUnavailable(RuntimeError):
    """The go command is missing or the module proxy refused the module."""


def module_dir(module: str, version: str) -> Path:
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except FileNotFoundError as error:
        raise ModuleUnavailable("the go command is needed to download CRD modules") from error
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise ModuleUnavailable(
            f"go mod download {module}@{version}: {info.get('Error', result.stderr)}"
        )
    return Path(info["Dir"])


def module_crd(api_version: str, kind: str) -> dict[str, Any]:
    (module, version), path = MODULE_CRDS[(api_version, kind)]
    return yaml.safe_load((module_dir(module, version) / path).read_text())


def inference_pool_schema() -> dict[str, Any]:
    return json.loads(INFERENCE_POOL_SCHEMA.read_text())["openAPIV3Schema"]


def inference_pool_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "inferencepools.inference.networking.k8s.io",
            # As upstream's CRD carries it: *.k8s.io groups need an approved API review.
            "annotations": {
                "api-approved.kubernetes.io": (
                    "https://github.com/kubernetes-sigs/gateway-api-inference-extension/pull/1173"
                ),
                "inference.networking.k8s.io/bundle-version": "v1.5.0",
            },
        },
        "spec": {
            "group": "inference.networking.k8s.io",
            "names": {
                "kind": "InferencePool",
                "listKind": "InferencePoolList",
                "plural": "inferencepools",
                "singular": "inferencepool",
                "shortNames": ["infpool"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": inference_pool_schema()},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


# The e2e cluster installs LeaderWorkerSet's CRD with its controller (scripts/cluster.sh).
_CLUSTER_CRDS = {("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")}


def ecosystem_crds() -> list[dict[str, Any]]:
    """Every CRD a stack with autoscaling.mode keda and routing.mode inferencePool needs."""
    keys = [key for key in MODULE_CRDS if key not in _CLUSTER_CRDS]
    return [*(module_crd(*key) for key in keys), inference_pool_crd()]


def inference_stack() -> tuple[str, list[dict[str, Any]]]:
    """The prod stack moved to routing.mode inferencePool (the README's example, ingress
    off): its namespace and every object its chart renders."""
    config = load_stack("prod")
    config = config.model_copy(
        update={
            "routing": config.routing.model_copy(update={"mode": "inferencePool"}),
            "ingress": config.ingress.model_copy(update={"enabled": False}),
        }
    )
    objects = [d for t in render_stack(config).values() for d in yaml.safe_load_all(t) if d]
    return config.namespace, objects


def analysis_template_crd() -> dict[str, Any]:
    """Argo Rollouts' AnalysisTemplate CRD (canaryAnalysis), from its Go module."""
    crd_file = module_dir(*ARGO_ROLLOUTS_MODULE) / "manifests/crds/analysis-template-crd.yaml"
    return yaml.safe_load(crd_file.read_text())
