"""`import modelopt.torch.quantization as mtq`: configs and quantize()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelopt.torch.quantization.config import (
    FP8_DEFAULT_CFG,
    FP8_PER_CHANNEL_PER_TOKEN_CFG,
    INT4_AWQ_CFG,
    NVFP4_DEFAULT_CFG,
    W4A8_AWQ_BETA_CFG,
    name_of,
    need_calibration,
)

__all__ = [
    "FP8_DEFAULT_CFG",
    "FP8_PER_CHANNEL_PER_TOKEN_CFG",
    "INT4_AWQ_CFG",
    "NVFP4_DEFAULT_CFG",
    "W4A8_AWQ_BETA_CFG",
    "quantize",
]

# What the tests read back: each quantize() call, in order.
CALLS: list[dict[str, Any]] = []


def quantize(
    model: Any, config: dict[str, Any], forward_loop: Callable[[Any], None] | None = None
) -> Any:
    """Inserts quantizers, runs forward_loop(model) to calibrate them; returns the model."""
    name = name_of(config)
    if need_calibration(config) and forward_loop is None:
        raise AssertionError(f"{name} calibrates: quantize() needs a forward_loop")
    if getattr(model, "_fake_modelopt_config", None) is not None:
        raise AssertionError("the model is already quantized")
    batches = 0
    if forward_loop is not None:
        seen: list[Any] = []
        original = model.forward

        def counting(*args: Any, **kwargs: Any) -> Any:
            seen.append(kwargs.get("input_ids"))
            return original(*args, **kwargs)

        model.forward = counting
        try:
            forward_loop(model)
        finally:
            model.forward = original
        batches = len(seen)
        samples = sum(ids.shape[0] for ids in seen if ids is not None)
    else:
        samples = 0
    model._fake_modelopt_config = name
    CALLS.append({"config": name, "batches": batches, "samples": samples})
    return model
