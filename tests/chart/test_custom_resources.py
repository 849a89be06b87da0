"""The chart's custom resources against their real CRD schemas, offline.

kubernetes-validate has no schema for custom resources, so each one is checked here
against the openAPIV3Schema of the CRD the cluster would hold: KEDA's and the Gateway
API's from their Go modules (downloaded into the module cache by `go mod download`, as
the toolchain does), the Inference Extension's from test data (its module is not in the
Go module proxy; tests/chart/data names the upstream file and commit). Unknown fields
are errors, as under the API server's strict field validation. CEL rules
(x-kubernetes-validations) are not evaluated here; a real API server checks those.
"""

from __future__ import annotations

import functools
from copy import deepcopy
from typing import Any

import jsonschema
import pytest
import yaml

from infra.canary_analysis import ANALYSIS_TEMPLATE_API, canary_analysis_args
from infra.config.models import releases
from infra.model_routes import HTTP_ROUTE_API, model_route_spec
from infra.stack import load_stack
from infra.values import offline_image_ref, release_values, render_stack
from tests.chart.rendering import Rendered
from tests.crds import (
    MODULE_CRDS,
    ModuleUnavailable,
    analysis_template_crd,
    inference_pool_schema,
    inference_stack,
    module_crd,
)


def _module_crd(api_version: str, kind: str) -> dict[str, Any]:
    try:
        return module_crd(api_version, kind)
    except ModuleUnavailable as error:
        pytest.skip(str(error))


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the CRD does not preserve them."""
    schema = deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    if (api_version, kind) == ("inference.networking.k8s.io/v1", "InferencePool"):
        return _strict(inference_pool_schema())
    if (api_version, kind) == (ANALYSIS_TEMPLATE_API, "AnalysisTemplate"):
        try:
            crd = analysis_template_crd()
        except ModuleUnavailable as error:
            pytest.skip(str(error))
    else:
        crd = _module_crd(api_version, kind)
    served = api_version.split("/")[1]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == served]
    assert entry["served"], f"{api_version} {kind} is not served by the CRD"
    return _strict(entry["schema"]["openAPIV3Schema"])


def errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(crd_schema(obj["apiVersion"], obj["kind"]))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)
    ]


CHECKED = set(MODULE_CRDS) | {("inference.networking.k8s.io/v1", "InferencePool")}


def _custom_resources(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if (o["apiVersion"], o["kind"]) in CHECKED]


def test_every_rendered_custom_resource_matches_its_crd(rendered: dict[str, Rendered]) -> None:
    seen = set()
    for scenario, result in rendered.items():
        for obj in _custom_resources([o for _, o in result.objects]):
            seen.add(obj["kind"])
            assert errors(obj) == [], f"{scenario} {obj['kind']}"
    assert seen == {kind for _, kind in CHECKED}


def test_prod_with_the_inference_stack_matches_the_crds() -> None:
    """The prod stack moved to routing.mode inferencePool, as the README shows it."""
    _, objects = inference_stack()
    found = _custom_resources(objects)
    assert {o["kind"] for o in found} == {"ScaledObject", "InferencePool", "HTTPRoute"}
    for obj in found:
        assert errors(obj) == [], obj["kind"]


def test_the_schemas_refuse_what_the_api_server_would(rendered: dict[str, Rendered]) -> None:
    scaled = deepcopy(rendered["keda"].one("ScaledObject"))
    scaled["spec"]["minReplicaCount"] = -1
    assert any("minReplicaCount" in e for e in errors(scaled))
    pool = deepcopy(rendered["inference-pool"].one("InferencePool"))
    pool["spec"]["targetPort"] = 8000  # a typo: unknown fields are refused
    assert errors(pool)
    route = deepcopy(rendered["inference-pool"].one("HTTPRoute"))
    del route["spec"]["rules"][0]["backendRefs"][0]["name"]
    assert errors(route)


def test_the_shared_model_route_matches_its_crd() -> None:
    """The program's HTTPRoute in front of several models (multi stack), and the pools."""
    config = load_stack("multi")
    stack_releases = releases(config)
    route = {
        "apiVersion": HTTP_ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {"name": config.release_name, "namespace": config.namespace},
        "spec": model_route_spec(config, stack_releases),
    }
    assert errors(route) == []
    for release in stack_releases:
        values = release_values(release, offline_image_ref(release.config))
        rendered = render_stack(release.config, values).values()
        found = _custom_resources([d for t in rendered for d in yaml.safe_load_all(t) if d])
        # Each release brings its pool; only the shared route routes to it.
        assert {o["kind"] for o in found} == {"InferencePool"}, release.config.release_name
        assert all(errors(o) == [] for o in found)


def test_the_canary_analysis_template_matches_its_crd() -> None:
    config = load_stack("multi")
    objects = canary_analysis_args(config, releases(config), config.namespace).objects
    assert objects
    for obj in objects.values():
        template = {
            "apiVersion": obj.api_version,
            "kind": obj.kind,
            "metadata": {"name": obj.name, "namespace": config.namespace},
            "spec": obj.spec,
        }
        assert errors(template) == [], obj.name
