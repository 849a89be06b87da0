"""The model cache prefill Job on a real control plane: ordered, run once per model.

A prod-like stack (as tests/e2e/test_prod_stack.py builds it, in its own namespace)
with a pinned 70B FP8 profile and `modelCache.prefill`. kwok completes the Job's pod
(its pod-complete stage), the Job controller marks the Job Complete, and Pulumi's
await on the Job lets the Release go ahead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import Cli, Stack, deployed, kube_get, kubectl, set_prod_secrets
from tests.e2e.test_prod_stack import IMAGE_REF, prod_config, storage_for

NAMESPACE = "llm-prefill"
PREFILL_JOBS = "app.kubernetes.io/component=model-cache-prefill"
MODEL = {
    "path": "nvidia/Llama-3.3-70B-Instruct-FP8",
    "servedModelName": "llama-3.3-70b-instruct",
    "revision": "1" * 40,
    "quantization": "fp8",
    "preQuantized": True,
    "parametersBillions": 70.6,
}


@contextmanager
def prefilled_stack(
    cli: Cli, project_dir: Path, name: str, model: dict[str, Any], **objects: Any
) -> Iterator[Stack]:
    """The prod stack in namespace llm-<name> with `model` prefilled, `objects` set on top."""
    config = prod_config(project_dir)
    config["modelCache"] = {**config["modelCache"], "storageClass": f"e2e-{name}"}
    storage = storage_for(config)
    storage[1]["metadata"]["name"] = f"e2e-{name}-model-cache"
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": storage})
    kubectl("apply", "-f", "-", input_text=listed)
    data = yaml.safe_load((project_dir / "Pulumi.prod.yaml").read_text())
    (project_dir / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    stack = Stack(cli, project_dir, name)
    stack.set("namespace", f"llm-{name}")
    stack.set("tensorParallelSize", "4")
    stack.set_object("model", model)
    stack.set_object("modelCache", {**config["modelCache"], "prefill": True})
    # A plain HPA: these tests are about the cache, and need no KEDA in the cluster.
    scaling = {k: v for k, v in config["autoscaling"].items() if k != "keda"}
    stack.set_object("autoscaling", {**scaling, "mode": "hpa", "minReplicas": 1, "maxReplicas": 2})
    stack.set_object("keda", {"install": False})
    # All on-demand: two pods leave no room for prod's floor of two plus spot burst.
    stack.set_object("spot", {"enabled": False})
    stack.set_object("image", {"ref": IMAGE_REF})
    stack.set_object("gpu", {**config["gpu"], "provisioner": "gpu-operator"})
    for key, value in objects.items():
        stack.set_object(key, value(config[key]) if callable(value) else value)
    set_prod_secrets(stack, name)
    try:
        with deployed(stack):
            stack.up()
            yield stack
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input_text=listed)


@pytest.fixture(scope="module")
def prefill(cli: Cli, project_dir: Path) -> Iterator[Stack]:
    with prefilled_stack(cli, project_dir, "prefill", MODEL) as stack:
        yield stack


def prefill_jobs(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return kube_get("job", namespace, selector=PREFILL_JOBS)


def completed(job: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in job["status"].get("conditions", [])}
    return conditions.get("Complete") == "True"


def env_of(pod_owner: dict[str, Any]) -> dict[str, str | None]:
    container = pod_owner["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_the_job_completed_before_the_deployment_was_created(prefill: Stack) -> None:
    (job,) = prefill_jobs()
    assert completed(job), job["status"]
    deployment = kube_get("deployment", NAMESPACE, "tensorrt-llm")
    # RFC 3339 UTC timestamps of one clock compare as strings.
    assert job["status"]["completionTime"] <= deployment["metadata"]["creationTimestamp"]
    assert env_of(job)["MODEL_REVISION"] == MODEL["revision"]


def assert_up_runs_no_job_again(stack: Stack, jobs: Callable[[], list[dict[str, Any]]]) -> None:
    """A second `pulumi up` of the same stack changes nothing and keeps each Job."""
    before = [job["metadata"]["uid"] for job in jobs()]
    result = stack.up()
    assert [job["metadata"]["uid"] for job in jobs()] == before
    changes = result.summary.resource_changes or {}
    assert set(changes) <= {"same"}, changes


def test_the_same_model_does_not_run_the_job_again(prefill: Stack) -> None:
    assert_up_runs_no_job_again(prefill, prefill_jobs)


def test_a_new_revision_runs_a_new_job(prefill: Stack) -> None:
    (before,) = prefill_jobs()
    prefill.set_object("model", {**MODEL, "revision": "2" * 40})
    prefill.up()
    (after,) = prefill_jobs()
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert completed(after), after["status"]
    assert env_of(after)["MODEL_REVISION"] == "2" * 40
