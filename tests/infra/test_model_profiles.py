"""Model profiles (quantization, size, KV-cache dtype) checked against the stack's GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config.hardware import GPU_PRODUCTS, QUANTIZATIONS, smallest_fitting_tp
from infra.stack import load_stack
from infra.values import chart_values, offline_image_ref, render_stack
from tests.infra.harness import PROJECT, assert_refused, run_program, stack_with
from tests.tools import REPO_ROOT

H100 = "NVIDIA-H100-80GB-HBM3"
REVISION = "0123456789abcdef0123456789abcdef01234567"
FP8_70B = {
    "path": "nvidia/Llama-3.3-70B-Instruct-FP8",
    "servedModelName": "llama-3.3-70b-instruct",
    "revision": REVISION,
    "quantization": "fp8",
    "preQuantized": True,
    "parametersBillions": 70.6,
}
# prod with a 70B FP8 profile on H100 x TP4: one on-demand and one spot pod.
PROFILE = {
    "model": FP8_70B,
    "tensorParallelSize": "4",
    "autoscaling": {"enabled": True, "mode": "keda", "minReplicas": 1, "maxReplicas": 2},
    "spot": {"enabled": True, "provider": "gke", "onDemandReplicas": 1},
}


def prod_with(changes: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    return stack_with("prod", {**PROFILE, **changes})


def model_with(**fields: Any) -> dict[str, Any]:
    return {"model": {**FP8_70B, **fields}}


def test_fp8_70b_on_h100_tp4_previews_cleanly() -> None:
    run = run_program(*prod_with({}))
    assert run.error is None, str(run.error)
    release = run.one("kubernetes:helm.sh/v3:Release", "server-release")
    values = release.plain("values")
    assert values["tensorParallelSize"] == 4
    # The profile is the program's: the chart gets only what the server reads.
    assert values["model"] == {
        "path": FP8_70B["path"],
        "servedModelName": FP8_70B["servedModelName"],
        "revision": REVISION,
    }


def test_fp8_70b_profile_renders_offline(tmp_path: Path) -> None:
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    for key, value in PROFILE.items():
        stack["config"][f"{PROJECT}:{key}"] = int(value) if key == "tensorParallelSize" else value
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.profile.yaml").write_text(yaml.safe_dump(stack))

    manifests = render_stack(load_stack("profile", tmp_path))

    deployment = yaml.safe_load(manifests["tensorrt-llm/templates/deployment.yaml"])
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 4
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["MODEL_PATH"] == FP8_70B["path"] and env["MODEL_REVISION"] == REVISION


def test_fp8_70b_on_one_gpu_is_refused_with_the_smallest_tp_that_fits() -> None:
    error = assert_refused(
        prod_with({"tensorParallelSize": "1"}), "tensorParallelSize: needs tensorParallelSize >= 2"
    )
    assert H100 in str(error) and "got 1" in str(error)


def test_bf16_70b_on_one_gpu_needs_four() -> None:
    assert_refused(
        prod_with(
            {"tensorParallelSize": "1", **model_with(quantization="none", preQuantized=False)}
        ),
        "tensorParallelSize: needs tensorParallelSize >= 4: 70.6B parameters at none",
    )


def test_nvfp4_on_h100_is_refused_naming_the_gpu() -> None:
    assert_refused(
        prod_with(model_with(quantization="nvfp4")),
        f"model.quantization: nvfp4 needs Blackwell or Blackwell (sm120) GPUs; "
        f"gpu.nodeSelector selects {H100} (Hopper), got nvfp4",
    )


def test_a_model_too_large_for_a_node_says_so() -> None:
    assert_refused(
        prod_with(model_with(quantization="none", preQuantized=False, parametersBillions=405)),
        "tensorParallelSize: does not fit in one node's 8 GPUs",
    )


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "plain checkpoint with a quantization": (
        model_with(preQuantized=False),
        "model.preQuantized: must be true with model.quantization fp8",
    ),
    "quantization without a size": (
        model_with(parametersBillions=None),
        "model.parametersBillions: required with a quantization",
    ),
    "unknown quantization": (model_with(quantization="int3"), "model.quantization: must be one of"),
    "unknown GPU product": (
        {"gpu": {"enabled": True, "nodeSelector": {"nvidia.com/gpu.product": "Tesla-K80"}}},
        "gpu.nodeSelector.nvidia.com/gpu.product: must name a GPU product",
    ),
    "KV-cache dtype set twice": (
        {
            **model_with(kvCacheDtype="fp8"),
            "server": {"engineOptions": {"kv_cache_config": {"dtype": "auto"}}},
        },
        "model.kvCacheDtype: set it here or in server.engineOptions.kv_cache_config.dtype",
    ),
    "load budget below the download": (
        {"modelLoadTimeoutSeconds": "600"},
        "modelLoadTimeoutSeconds: must be >= 1024 to download and load 66 GiB of weights "
        "(70.6B at fp8) at the speeds modelLoadAssumptions assumes, got 600",
    ),
    "negative size": (model_with(parametersBillions=-1), "model.parametersBillions: must be > 0"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_profile_rule_names_the_key(case: str) -> None:
    changes, line = REFUSED[case]
    assert_refused(prod_with(changes), line)


def test_a_quantization_needs_the_tensorrt_llm_engine() -> None:
    assert_refused(
        stack_with("dev", {"model": {"quantization": "fp8", "preQuantized": True}}),
        "model.quantization: needs engine tensorrt-llm",
    )


def test_fp8_kv_cache_reaches_the_engine_options() -> None:
    config = load_stack("prod").model_copy(
        update={"model": load_stack("prod").model.model_copy(update={"kv_cache_dtype": "fp8"})}
    )
    values = chart_values(config, offline_image_ref(config))
    assert values["server"]["engineOptions"] == {"kv_cache_config": {"dtype": "fp8"}}


def test_tables_agree_with_the_upstream_matrix() -> None:
    # TensorRT-LLM's hardware matrix: FP4 is Blackwell-only, FP8 starts at Ada, the
    # INT4 AWQ/GPTQ weight-only kernels run on Ampere.
    assert "Hopper" not in QUANTIZATIONS["nvfp4"].architectures
    assert "Ampere" not in QUANTIZATIONS["fp8"].architectures
    assert "Ada Lovelace" in QUANTIZATIONS["fp8"].architectures
    assert "Ampere" in QUANTIZATIONS["w4a16_awq"].architectures
    h100 = GPU_PRODUCTS[H100]
    assert smallest_fitting_tp(70.6, "fp8", h100, 8) == 2
    assert smallest_fitting_tp(70.6, "none", h100, 8) == 4
    assert smallest_fitting_tp(8, "none", h100, 8) == 1


def test_the_load_floor_follows_the_assumed_speeds() -> None:
    # 600 s cannot download 66 GiB at the assumed 0.1 GiB/s; at a measured 1 GiB/s it can.
    measured = {"hubDownloadGibPerSecond": 1.0, "cacheReadGibPerSecond": 2.0}
    run = run_program(
        *prod_with({"modelLoadTimeoutSeconds": "600", "modelLoadAssumptions": measured})
    )
    assert run.error is None, str(run.error)
    slow = {**measured, "engineStartSeconds": 600}
    assert_refused(
        prod_with({"modelLoadTimeoutSeconds": "600", "modelLoadAssumptions": slow}),
        "modelLoadTimeoutSeconds: must be >= 699 to download and load 66 GiB",
    )
