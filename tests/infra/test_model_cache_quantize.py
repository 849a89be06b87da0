"""The quantize Job: ModelOpt PTQ on GPUs, after the prefill Job, before the Release."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.config import StackConfig
from infra.model_cache import QUANTIZE_TEMPLATE, prefill_manifests
from infra.stack import load_stack
from infra.values import offline_image_ref, render_stack
from tests.infra.harness import PROJECT, assert_refused, assert_runs, stack_config, stack_with
from tests.infra.test_model_cache_prefill import (
    HF_TOKEN,
    PREFILL,
    assert_restricted_cache_job,
    prefilled,
)
from tests.infra.test_model_profiles import FP8_70B

JOB = "kubernetes:batch/v1:Job"
RELEASE = "kubernetes:helm.sh/v3:Release"
PLAIN_70B = {**FP8_70B, "path": "meta-llama/Llama-3.3-70B-Instruct", "preQuantized": False}
# Two TP4 pods of the previous model keep serving while the Job holds 4 more GPUs.
QUOTA = {"gpus": 12, "cpu": "72", "memory": "640Gi", "pods": 10, "storage": "1Ti"}
QUANTIZE = {
    **PREFILL,
    "model": PLAIN_70B,
    "modelCache": {**PREFILL["modelCache"], "quantize": True},
    "quota": QUOTA,
}


def quantized(**model: Any) -> StackConfig:
    config = prefilled(preQuantized=False, **model)
    return config.model_copy(
        update={"model_cache": config.model_cache.model_copy(update={"quantize": True})}
    )


def job_of(config: StackConfig) -> dict[str, Any]:
    return prefill_manifests(config, offline_image_ref(config))[QUANTIZE_TEMPLATE]


def env_of(pod_spec: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in pod_spec["containers"][0]["env"]}


def test_the_job_runs_after_the_prefill_job_and_before_the_release(run: Any) -> None:
    prefill = run.one(JOB, "model-cache-job")
    quantize = run.one(JOB, "model-cache-quantize")
    release = run.one(RELEASE, "server-release")
    assert prefill.urn in quantize.dependencies, quantize.urn
    assert quantize.urn in release.dependencies, release.urn


@pytest.fixture(scope="module")
def run() -> Any:
    return assert_runs(stack_with("prod", QUANTIZE, secrets=HF_TOKEN))


def test_the_job_quantizes_offline_on_the_gpus_the_16_bit_weights_need(run: Any) -> None:
    job = run.one(JOB, "model-cache-quantize").plain_all()
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "service.quantize"]
    env = env_of(pod)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["QUANTIZATION"] == "fp8"
    assert env["MODEL_REVISION"] == PLAIN_70B["revision"]
    # 70.6B at 16 bits is 131 GiB: four H100s hold it within their weights share (TP2 would
    # serve the FP8 copy, but calibration loads the original).
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    # No token: the Job never reaches the hub (and no NetworkPolicy lets it).
    assert "HF_TOKEN_PATH" not in env and "hf-token" not in {v["name"] for v in pod["volumes"]}
    assert job["spec"]["backoffLimit"] == 1
    prefill = run.one(JOB, "model-cache-job").plain_all()["spec"]["template"]["spec"]
    claim = next(v for v in prefill["volumes"] if v["name"] == "model-cache")
    assert claim in pod["volumes"]
    # The prefill Job fetches the calibration text the quantize Job reads offline.
    for name in ("CALIBRATION_DATASET", "CALIBRATION_FILES", "CALIBRATION_REVISION"):
        assert env_of(prefill)[name] == env[name], name


def test_the_pods_load_the_quantized_copy_under_the_hub_name() -> None:
    config = quantized(served_model_name=None)
    job_env = env_of(job_of(config)["spec"]["template"]["spec"])
    deployment = yaml.safe_load(render_stack(config)["tensorrt-llm/templates/deployment.yaml"])
    server_env = env_of(deployment["spec"]["template"]["spec"])
    assert server_env["MODEL_PATH"] == job_env["QUANTIZED_DIR"]
    assert "MODEL_REVISION" not in server_env
    assert server_env["SERVED_MODEL_NAME"] == "org/model"
    assert server_env["HF_HUB_OFFLINE"] == "1"


def test_the_job_is_valid_and_passes_pod_security_restricted() -> None:
    assert_restricted_cache_job(job_of(quantized()))


def test_job_and_output_are_named_by_path_revision_and_quantization_only() -> None:
    job = job_of(quantized())
    name = job["metadata"]["name"]
    output = env_of(job["spec"]["template"]["spec"])["QUANTIZED_DIR"]
    assert name.startswith("tensorrt-llm-quantize-") and output.endswith(name[-10:])
    bigger = quantized().model_copy(update={"replicas": 3})
    assert job_of(bigger)["metadata"]["name"] == name
    for change in ({"revision": "f" * 40}, {"path": "org/other"}, {"quantization": "w4a16_awq"}):
        assert job_of(quantized(**change))["metadata"]["name"] != name, change


def test_without_quantize_there_is_no_job() -> None:
    run = assert_runs(stack_with("prod", PREFILL, secrets=HF_TOKEN))
    assert [r.name for r in run.of_type(JOB)] == ["model-cache-job"]
    assert QUANTIZE_TEMPLATE not in prefill_manifests(prefilled(), offline_image_ref(prefilled()))


def quantize_with(**changes: Any) -> dict[str, Any]:
    return {**QUANTIZE, **changes}


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "plain checkpoint without the Job": (
        {"model": PLAIN_70B},
        "model.preQuantized: must be true with model.quantization fp8",
    ),
    "nothing to quantize": (
        quantize_with(model={**PLAIN_70B, "quantization": "none"}),
        "modelCache.quantize: needs a model.quantization other than none",
    ),
    "already quantized": (
        quantize_with(model=FP8_70B),
        "modelCache.quantize: must be false with model.preQuantized",
    ),
    "no ModelOpt recipe": (
        quantize_with(model={**PLAIN_70B, "quantization": "w4a16_gptq"}),
        "model.quantization: w4a16_gptq has no ModelOpt post-training recipe",
    ),
    "without the prefill": (
        quantize_with(modelCache={**PREFILL["modelCache"], "quantize": True, "prefill": False}),
        "modelCache.quantize: needs modelCache.prefill",
    ),
    "quota without the Job's GPUs": (
        quantize_with(quota={**QUOTA, "gpus": 8}),
        "quota.gpus: must be >= 12 (8 of the serving pods + the quantize Job's 4 GPUs while "
        "it runs), got 8",
    ),
    "quota without the Job's memory": (
        quantize_with(quota={**QUOTA, "memory": "260Gi"}),
        "quota.memory: must hold the serving pods' requests + the quantize Job's 32Gi while "
        "it runs, got 260Gi",
    ),
    "too big for one node": (
        quantize_with(model={**PLAIN_70B, "parametersBillions": 405}),
        "modelCache.quantize: the 16-bit checkpoint (754 GiB) does not fit one node's 8 "
        "NVIDIA-H100-80GB-HBM3 GPUs",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_quantize_rules_name_the_key(case: str) -> None:
    changes, line = REFUSED[case]
    base = changes if "modelCache" in changes else {**PREFILL, **changes}
    assert_refused(stack_with("prod", base, secrets=HF_TOKEN), line)


def test_the_prod_stack_loads_its_defaults() -> None:
    assert load_stack("prod").model_cache_quantize is False


def test_each_model_version_quantizes_its_own_revision_and_the_quota_holds_their_jobs() -> None:
    config, _ = stack_config("multi")
    models = json.loads(config[f"{PROJECT}:models"])
    qwen, llama = models
    qwen["model"]["revision"] = "a" * 40
    llama["model"] = {**llama["model"], "quantization": "fp8", "parametersBillions": 8.0}
    llama["modelCache"] = {"quantize": True}
    cache = {**json.loads(config[f"{PROJECT}:modelCache"]), "prefill": True}
    quota = json.loads(config[f"{PROJECT}:quota"])

    def multi(gpus: int) -> tuple[dict[str, str], list[str]]:
        changes = {"models": models, "modelCache": cache, "quota": {**quota, "gpus": gpus}}
        return stack_with("multi", changes, secrets=HF_TOKEN)

    # Serving 2 x TP2 + 2 + 1 pods while the two versions' Jobs hold one GPU each.
    assert_refused(
        multi(8),
        "quota.gpus: must be >= 9 (7 of the serving pods + the quantize Job's 2 GPUs while "
        "it runs), got 8",
    )
    jobs = {r.name: r.plain_all() for r in assert_runs(multi(9)).of_type(JOB)}
    quantize = {name: job for name, job in jobs.items() if name.endswith("-quantize")}
    assert sorted(quantize) == [
        "model-cache-llama-8b-v1-quantize",
        "model-cache-llama-8b-v2-quantize",
    ]
    revisions = {
        env_of(job["spec"]["template"]["spec"])["MODEL_REVISION"] for job in quantize.values()
    }
    assert len(revisions) == 2
