"""Quantization configs of nvidia-modelopt 0.37 (modelopt/torch/quantization/config.py)."""

from __future__ import annotations

from typing import Any

_DISABLED = {"*lm_head*": {"enable": False}, "default": {"enable": False}}

FP8_DEFAULT_CFG: dict[str, Any] = {
    "quant_cfg": {
        "*weight_quantizer": {"num_bits": (4, 3), "axis": None},
        "*input_quantizer": {"num_bits": (4, 3), "axis": None},
        **_DISABLED,
    },
    "algorithm": "max",
}
FP8_PER_CHANNEL_PER_TOKEN_CFG: dict[str, Any] = {
    "quant_cfg": {
        "*weight_quantizer": {"num_bits": (4, 3), "axis": 0},
        "*input_quantizer": {"num_bits": (4, 3), "type": "dynamic", "block_sizes": {-1: None}},
        **_DISABLED,
    },
    "algorithm": "max",
}
INT4_AWQ_CFG: dict[str, Any] = {
    "quant_cfg": {
        "*weight_quantizer": {"num_bits": 4, "block_sizes": {-1: 128, "type": "static"}},
        "*input_quantizer": {"enable": False},
        **_DISABLED,
    },
    "algorithm": {"method": "awq_lite", "alpha_step": 0.1},
}
W4A8_AWQ_BETA_CFG: dict[str, Any] = {
    "quant_cfg": {
        "*weight_quantizer": [
            {"num_bits": 4, "block_sizes": {-1: 128, "type": "static"}, "enable": True},
            {"num_bits": (4, 3), "axis": None, "enable": True},
        ],
        "*input_quantizer": {"num_bits": (4, 3), "axis": None, "enable": True},
        **_DISABLED,
    },
    "algorithm": "awq_lite",
}
NVFP4_DEFAULT_CFG: dict[str, Any] = {
    "quant_cfg": {
        "*weight_quantizer": {
            "num_bits": (2, 1),
            "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)},
        },
        "*input_quantizer": {
            "num_bits": (2, 1),
            "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)},
        },
        **_DISABLED,
    },
    "algorithm": "max",
}

# The quant_algo the export writes for a model quantized with each config
# (modelopt/torch/export/quant_utils.py, process_layer_quant_config).
EXPORTED_QUANT_ALGO = {
    "FP8_DEFAULT_CFG": "FP8",
    "FP8_PER_CHANNEL_PER_TOKEN_CFG": "FP8_PER_CHANNEL_PER_TOKEN",
    "INT4_AWQ_CFG": "W4A16_AWQ",
    "W4A8_AWQ_BETA_CFG": "W4A8_AWQ",
    "NVFP4_DEFAULT_CFG": "NVFP4",
}


def need_calibration(config: dict[str, Any]) -> bool:
    """Upstream's rule: a non-max algorithm, or any enabled static activation quantizer."""
    if config["algorithm"] is not None and config["algorithm"] != "max":
        return True

    def static(cfg: dict[str, Any]) -> bool:
        return bool(cfg.get("enable", True)) and cfg.get("type", "") != "dynamic"

    for name, cfg in config.get("quant_cfg", {}).items():
        if "weight_quantizer" in name:
            continue
        if any(static(c) for c in (cfg if isinstance(cfg, list) else [cfg])):
            return True
    return False


def name_of(config: dict[str, Any]) -> str:
    """Which of the configs above this is (by identity: the entry point passes ModelOpt's own)."""
    for name in EXPORTED_QUANT_ALGO:
        if globals()[name] is config:
            return name
    raise AssertionError("quantize() got a config that is not one of modelopt's own *_CFG dicts")
