"""The quantize Job on a real control plane: after the prefill, before the pods, once.

The prod stack (as test_model_cache_prefill builds it, in its own namespace) serving a
plain 70B checkpoint as FP8 with `modelCache.quantize`: kwok completes the prefill pod,
then the quantize pod (4 of a fake node's GPUs), and only then does the Release create
the Deployment, whose pods load the Job's output directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Cli, Stack, kube_get
from tests.e2e.test_model_cache_prefill import MODEL as PREFILLED
from tests.e2e.test_model_cache_prefill import (
    assert_up_runs_no_job_again,
    completed,
    env_of,
    prefill_jobs,
    prefilled_stack,
)

NAME = "quantize"
NAMESPACE = f"llm-{NAME}"
QUANTIZE_JOBS = "app.kubernetes.io/component=model-cache-quantize"
# The prefill test's 70B FP8 profile, from the plain checkpoint.
MODEL = {
    **PREFILLED,
    "path": "meta-llama/Llama-3.3-70B-Instruct",
    "revision": "3" * 40,
    "preQuantized": False,
}


@pytest.fixture(scope="module")
def quantized(cli: Cli, project_dir: Path) -> Iterator[Stack]:
    with prefilled_stack(
        cli,
        project_dir,
        NAME,
        MODEL,
        modelCache=lambda cache: {**cache, "prefill": True, "quantize": True},
        # Two TP4 pods of the previous model plus the Job's 4 GPUs.
        quota=lambda quota: {**quota, "gpus": 12},
    ) as stack:
        yield stack


def quantize_jobs() -> list[dict[str, Any]]:
    return kube_get("job", NAMESPACE, selector=QUANTIZE_JOBS)


def test_the_job_ran_after_the_prefill_and_before_the_deployment(quantized: Stack) -> None:
    (prefill,) = prefill_jobs(NAMESPACE)
    (job,) = quantize_jobs()
    assert completed(prefill) and completed(job), job["status"]
    deployment = kube_get("deployment", NAMESPACE, "tensorrt-llm")
    # RFC 3339 UTC timestamps of one clock compare as strings.
    assert prefill["status"]["completionTime"] <= job["metadata"]["creationTimestamp"]
    assert job["status"]["completionTime"] <= deployment["metadata"]["creationTimestamp"]
    gpus = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpus["nvidia.com/gpu"] == "4"
    assert env_of(deployment)["MODEL_PATH"] == env_of(job)["QUANTIZED_DIR"]


def test_the_same_model_does_not_run_the_job_again(quantized: Stack) -> None:
    assert_up_runs_no_job_again(quantized, quantize_jobs)


def test_a_new_quantization_runs_a_new_job_and_not_the_download(quantized: Stack) -> None:
    (prefill_before,) = prefill_jobs(NAMESPACE)
    (before,) = quantize_jobs()
    quantized.set_object("model", {**MODEL, "quantization": "w4a16_awq"})
    quantized.up()
    (prefill_after,) = prefill_jobs(NAMESPACE)
    (after,) = quantize_jobs()
    assert prefill_after["metadata"]["uid"] == prefill_before["metadata"]["uid"]
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert completed(after), after["status"]
    assert env_of(after)["QUANTIZATION"] == "w4a16_awq"
    deployment = kube_get("deployment", NAMESPACE, "tensorrt-llm")
    assert env_of(deployment)["MODEL_PATH"] == env_of(after)["QUANTIZED_DIR"]
