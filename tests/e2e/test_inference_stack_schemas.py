"""The API server judges the inference-stack objects against the real CRDs.

The chart's render of the prod stack with `routing.mode: inferencePool` and
`autoscaling.mode: keda` goes to the local control plane as a server-side dry run,
after the CRDs of tests/crds.py are installed: schema, defaulting and CEL rules of the
ScaledObject, InferencePool and HTTPRoute, and every built-in object, are checked by a
real kube-apiserver, independently of the Pulumi path (test_prod_stack.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from infra.stack import load_stack
from tests.crds import ecosystem_crds, inference_stack
from tests.e2e.harness import install_crds, kubectl_run


@pytest.fixture(scope="module")
def namespace(crds: list[dict]) -> Iterator[str]:
    """The stack's namespace, created once: dry runs of namespaced objects need it."""
    name = load_stack("prod").namespace
    kubectl_run("create", "namespace", name)
    yield name
    kubectl_run("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def crds() -> Iterator[list[dict]]:
    items = ecosystem_crds()
    install_crds(items)
    yield items


def inference_stack_objects() -> tuple[str, list[dict]]:
    namespace, docs = inference_stack()
    # The Prometheus Operator's CRDs are not part of this check (and not installed here).
    return namespace, [d for d in docs if not d["apiVersion"].startswith("monitoring.")]


def test_the_api_server_accepts_every_object_of_the_inference_stack(namespace: str) -> None:
    _, docs = inference_stack_objects()
    assert {"ScaledObject", "InferencePool", "HTTPRoute"} <= {d["kind"] for d in docs}
    result = kubectl_run(
        "apply",
        "--dry-run=server",
        "--namespace",
        namespace,
        "-f",
        "-",
        input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    assert result.returncode == 0, result.stderr
    for kind in (
        "scaledobject.keda.sh",
        "inferencepool.inference.networking.k8s.io",
        "httproute.gateway.networking.k8s.io",
    ):
        assert f"{kind}/" in result.stdout, result.stdout


def test_the_api_server_refuses_a_broken_inference_pool(namespace: str) -> None:
    """Guards the test above: the installed CRD really validates."""
    _, docs = inference_stack_objects()
    (pool,) = [d for d in docs if d["kind"] == "InferencePool"]
    pool["spec"]["targetPorts"] = []  # upstream requires at least one port
    result = kubectl_run("apply", "--dry-run=server", "-f", "-", input_text=json.dumps(pool))
    assert result.returncode != 0
    assert "targetPorts" in result.stderr, result.stderr
