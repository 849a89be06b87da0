"""What each quantization needs from the GPU, and what each GPU product offers.

The quantizations and their architectures are TensorRT-LLM's "Hardware Support Matrix"
(docs/source/features/quantization.md in NVIDIA/TensorRT-LLM, PyTorch backend). The
names are ModelOpt's `quant_algo` values in lower case, as a ModelOpt checkpoint's
hf_quant_config.json spells them. The PyTorch backend quantizes no weights on load:
every weight quantization here needs a checkpoint already quantized by ModelOpt (or
published so, like NVIDIA's *-FP8 / *-FP4 models); only the FP8 KV cache is a switch.

Products are the `nvidia.com/gpu.product` label GPU Feature Discovery puts on nodes;
memory is what the driver reports, in GiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AMPERE = "Ampere"
ADA = "Ada Lovelace"
HOPPER = "Hopper"
BLACKWELL = "Blackwell"
BLACKWELL_SM120 = "Blackwell (sm120)"

# The node label a stack's gpu.nodeSelector names its GPU product with.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


@dataclass(frozen=True)
class Quantization:
    name: str
    description: str
    bytes_per_parameter: float
    architectures: frozenset[str]


_ALL = frozenset({AMPERE, ADA, HOPPER, BLACKWELL, BLACKWELL_SM120})
_FP8 = frozenset({ADA, HOPPER, BLACKWELL, BLACKWELL_SM120})
_W4A8 = frozenset({ADA, HOPPER})
_W4A16 = frozenset({AMPERE, ADA, HOPPER})

# Bytes per parameter include the scales: NVFP4 keeps one FP8 scale per 16 weights
# (4.5 bits), MXFP4 one E8M0 scale per 32 (4.25 bits), the INT4 schemes one 16-bit
# scale per 128-weight group (4.125 bits).
QUANTIZATIONS: dict[str, Quantization] = {
    q.name: q
    for q in (
        Quantization("none", "BF16/FP16 weights as published", 2.0, _ALL),
        Quantization(
            "nvfp4",
            "NVFP4 weights and activations",
            4.5 / 8,
            frozenset({BLACKWELL, BLACKWELL_SM120}),
        ),
        Quantization(
            "mxfp4", "MXFP4 weights (GPT-OSS)", 4.25 / 8, frozenset({BLACKWELL, BLACKWELL_SM120})
        ),
        Quantization("fp8", "FP8 per-tensor weights and activations", 1.0, _FP8),
        Quantization(
            "fp8_block_scales", "FP8 block scaling (DeepSeek)", 1.0, frozenset({HOPPER, BLACKWELL})
        ),
        Quantization("fp8_per_channel_per_token", "FP8 rowwise", 1.0, frozenset({HOPPER})),
        Quantization("w4a8_awq", "INT4 AWQ weights, FP8 activations", 4.125 / 8, _W4A8),
        Quantization("w4a16_awq", "INT4 AWQ weights, 16-bit activations", 4.125 / 8, _W4A16),
        Quantization("w4a8_gptq", "INT4 GPTQ weights, FP8 activations", 4.125 / 8, _W4A8),
        Quantization("w4a16_gptq", "INT4 GPTQ weights, 16-bit activations", 4.125 / 8, _W4A16),
    )
}
# KV-cache dtypes: auto follows the checkpoint; fp8 is TensorRT-LLM's FP8 KV cache
# (KvCacheConfig(dtype="fp8")), on every architecture in the matrix.
KV_CACHE_DTYPES: dict[str, frozenset[str]] = {"auto": _ALL, "fp8": _ALL}


@dataclass(frozen=True)
class GpuProduct:
    label: str
    architecture: str
    memory_gib: float


GPU_PRODUCTS: dict[str, GpuProduct] = {
    p.label: p
    for p in (
        GpuProduct("NVIDIA-A10G", AMPERE, 22.5),
        GpuProduct("NVIDIA-A100-SXM4-40GB", AMPERE, 39.5),
        GpuProduct("NVIDIA-A100-SXM4-80GB", AMPERE, 79.2),
        GpuProduct("NVIDIA-A100-80GB-PCIe", AMPERE, 79.2),
        GpuProduct("NVIDIA-L4", ADA, 22.5),
        GpuProduct("NVIDIA-L40S", ADA, 44.4),
        GpuProduct("NVIDIA-H100-80GB-HBM3", HOPPER, 79.6),
        GpuProduct("NVIDIA-H100-PCIe", HOPPER, 79.6),
        GpuProduct("NVIDIA-H100-NVL", HOPPER, 93.6),
        GpuProduct("NVIDIA-H200", HOPPER, 140.4),
        GpuProduct("NVIDIA-B200", BLACKWELL, 178.4),
        GpuProduct("NVIDIA-GB200", BLACKWELL, 184.0),
        GpuProduct("NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", BLACKWELL_SM120, 94.97),
    )
}

# Of each GPU's memory, what the weights may take: the rest is the CUDA context,
# activations and NCCL buffers (about a tenth), and a KV cache large enough to batch
# (at least a fifth), below which the engine serves a handful of sequences at best.
RUNTIME_SHARE = 0.1
MIN_KV_CACHE_SHARE = 0.2
WEIGHTS_SHARE = 1 - RUNTIME_SHARE - MIN_KV_CACHE_SHARE

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)


def weights_gib(parameters_billions: float, quantization: str) -> float:
    """Size of a checkpoint's weights in GiB."""
    per_parameter = QUANTIZATIONS[quantization].bytes_per_parameter
    return parameters_billions * 1e9 * per_parameter / 2**30


def fits(parameters_billions: float, quantization: str, product: GpuProduct, tp: int) -> bool:
    """The weights plus a minimum KV-cache share fit in tp GPUs of this product."""
    budget = tp * product.memory_gib * WEIGHTS_SHARE
    return weights_gib(parameters_billions, quantization) <= budget


def smallest_fitting_tp(
    parameters_billions: float, quantization: str, product: GpuProduct, gpus_per_node: int
) -> int | None:
    """The smallest tensor-parallel size within one node that fits, or None."""
    for tp in TENSOR_PARALLEL_SIZES:
        if tp <= gpus_per_node and fits(parameters_billions, quantization, product, tp):
            return tp
    return None


def weights_budget_gib(product: GpuProduct, tp: int) -> int:
    return math.floor(tp * product.memory_gib * WEIGHTS_SHARE)


def load_seconds_floor(
    weights: float,
    downloads: bool,
    *,
    cache_read_gib_per_second: float,
    hub_download_gib_per_second: float,
    engine_start_seconds: int,
) -> int:
    """Least time a pod needs to load `weights` GiB, fetching them first if `downloads`.

    The speeds are the stack's modelLoadAssumptions: assumptions, not measurements.
    """
    seconds = engine_start_seconds + weights / cache_read_gib_per_second
    if downloads:
        seconds += weights / hub_download_gib_per_second
    return math.ceil(seconds)
