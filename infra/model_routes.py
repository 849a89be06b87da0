"""The one OpenAI endpoint in front of several models: a shared Gateway API HTTPRoute.

With `models`, each release brings its InferencePool and endpoint picker and leaves
the HTTPRoute to this component (chart value routing.inferencePool.httpRoute.enabled
false). One route attaches to the stack's Gateway:

- one rule per model, matching the `X-Gateway-Model-Name` header that the Inference
  Extension's body-based router (BBR, installed next to the Gateway) copies from the
  request body's `model`; its backends are the model's versions' InferencePools with
  their weights, so a canary's share is one number here;
- one rule for `GET /v1/models` (no body, so no header) to the first model's pools,
  whose servers list every model of the stack (upstream has no aggregated model list:
  kubernetes-sigs/gateway-api-inference-extension#1414).

The route is its own Pulumi resource, not a value of any Release: changing a weight
previews as that one field of this object and touches no release.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.chart import chart_default
from infra.config import StackConfig
from infra.config.models import Release
from infra.custom_objects import CustomObject, CustomObjects, CustomObjectsArgs

# The header BBR sets from the body's `model` (pkg/bbr/plugins/common/constants.go).
MODEL_HEADER = "X-Gateway-Model-Name"
MODELS_PATH = "/v1/models"
INFERENCE_POOL_GROUP = "inference.networking.k8s.io"
HTTP_ROUTE_API = "gateway.networking.k8s.io/v1"


def _pool_refs(releases: list[Release]) -> list[dict[str, Any]]:
    refs = []
    for release in releases:
        ref: dict[str, Any] = {
            "group": INFERENCE_POOL_GROUP,
            "kind": "InferencePool",
            "name": release.config.release_name,
        }
        if release.weight is not None:
            ref["weight"] = release.weight
        refs.append(ref)
    return refs


def model_route_spec(config: StackConfig, releases: list[Release]) -> dict[str, Any]:
    """The shared HTTPRoute's spec: a rule per model by header, and /v1/models."""
    routing = config.routing
    parent: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": routing.gateway.name,
    }
    if routing.gateway.namespace:
        parent["namespace"] = routing.gateway.namespace
    # Streams last as long as a generation: the gateway's default timeout would cut them.
    timeouts = {"request": chart_default("routing.inferencePool.requestTimeout")}
    by_model: dict[str, list[Release]] = {}
    for release in releases:
        by_model.setdefault(release.model or "", []).append(release)
    rules = [
        {
            "matches": [
                {
                    "path": {"type": "PathPrefix", "value": "/"},
                    "headers": [
                        {
                            "type": "Exact",
                            "name": MODEL_HEADER,
                            "value": versions[0].served_model_name,
                        }
                    ],
                }
            ],
            "backendRefs": _pool_refs(versions),
            "timeouts": timeouts,
        }
        for versions in by_model.values()
    ]
    first = next(iter(by_model.values()))
    rules.append(
        {
            "matches": [{"path": {"type": "Exact", "value": MODELS_PATH}, "method": "GET"}],
            "backendRefs": _pool_refs(first),
        }
    )
    spec: dict[str, Any] = {"parentRefs": [parent], "rules": rules}
    if routing.hostnames:
        spec["hostnames"] = list(routing.hostnames)
    return spec


def model_routes_args(
    config: StackConfig, releases: list[Release], namespace: pulumi.Input[str]
) -> CustomObjectsArgs:
    route = CustomObject(
        HTTP_ROUTE_API, "HTTPRoute", config.release_name, model_route_spec(config, releases)
    )
    return CustomObjectsArgs(namespace, {"httproute": route})


class ModelRoutes(CustomObjects):
    """The HTTPRoute that sends each model's requests to its versions' pools."""

    TYPE = "tensorrt-llm:index:ModelRoutes"
