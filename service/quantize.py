"""`python -m service.quantize`: ModelOpt post-training quantization into the model cache.

The model cache quantize Job runs this once per model path + revision + quantization,
after the prefill Job downloaded the checkpoint and the calibration text, with the hub
offline (HF_HUB_OFFLINE=1). It does what ModelOpt's own recipe does
(examples/llm_ptq/hf_ptq.py in NVIDIA/TensorRT-Model-Optimizer): load the checkpoint
with transformers across the pod's GPUs, `mtq.quantize(model, <ModelOpt config>,
forward_loop)` with a calibration loop from `create_forward_loop` (skipped when
`need_calibration` says the config has nothing to calibrate), then
`export_hf_checkpoint`, which writes the weights, config.json with its
`quantization_config` and hf_quant_config.json (what TensorRT-LLM's PyTorch backend
reads), and the tokenizer beside them. Nothing here quantizes a weight itself.

The export lands in a scratch directory next to QUANTIZED_DIR and is renamed into
place when complete, so an interrupted attempt never looks finished; a retry or a
re-created Job that finds QUANTIZED_DIR complete does nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# model.quantization -> the ModelOpt config `mtq.<name>` that produces it (nvidia-modelopt
# 0.37, the version TensorRT-LLM 1.2 pins; hf_ptq.py's QUANT_CFG_CHOICES). The export
# writes quant_algo FP8, FP8_PER_CHANNEL_PER_TOKEN, NVFP4, W4A16_AWQ and W4A8_AWQ for
# them, the names model.quantization uses in lower case. Quantizations missing here
# (mxfp4, GPTQ, FP8 block scales) have no ModelOpt PTQ recipe that TensorRT-LLM loads
# under that name: they need a checkpoint published quantized.
MODELOPT_CONFIGS: dict[str, str] = dict(
    fp8="FP8_DEFAULT_CFG",
    fp8_per_channel_per_token="FP8_PER_CHANNEL_PER_TOKEN_CFG",
    nvfp4="NVFP4_DEFAULT_CFG",
    w4a16_awq="INT4_AWQ_CFG",
    w4a8_awq="W4A8_AWQ_BETA_CFG",
)
# What the export writes that marks a complete ModelOpt checkpoint.
QUANT_CONFIG_FILE = "hf_quant_config.json"


class QuantizeError(RuntimeError):
    """The Job cannot run as configured; the message names the setting."""


@dataclass(frozen=True)
class QuantizeJob:
    """What the Job's environment asks for."""

    model_path: str
    model_revision: str | None
    quantization: str
    output_dir: Path
    calibration_files: tuple[Path, ...]
    calibration_text_field: str
    calibration_samples: int
    calibration_max_length: int
    calibration_batch_size: int
    trust_remote_code: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuantizeJob:
        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise QuantizeError(f"{name} is required")
            return value

        def number(name: str, default: int, least: int) -> int:
            text = env.get(name) or str(default)
            if not text.isdigit() or int(text) < least:
                raise QuantizeError(f"{name} must be an integer >= {least}, got {text!r}")
            return int(text)

        quantization = need("QUANTIZATION")
        if quantization not in MODELOPT_CONFIGS:
            raise QuantizeError(
                f"QUANTIZATION {quantization!r} has no ModelOpt config here; "
                f"one of {', '.join(MODELOPT_CONFIGS)}"
            )
        cache = Path(need("HF_HOME"))
        files = env.get("CALIBRATION_FILES", "")
        return cls(
            model_path=need("MODEL_PATH"),
            model_revision=env.get("MODEL_REVISION") or None,
            quantization=quantization,
            output_dir=Path(need("QUANTIZED_DIR")),
            calibration_files=tuple(
                calibration_file(cache, need("CALIBRATION_DATASET"), name)
                for name in files.split(",")
                if name
            ),
            calibration_text_field=env.get("CALIBRATION_TEXT_FIELD") or "text",
            calibration_samples=number("CALIBRATION_SAMPLES", 512, 1),
            calibration_max_length=number("CALIBRATION_MAX_LENGTH", 512, 1),
            calibration_batch_size=number("CALIBRATION_BATCH_SIZE", 0, 0),
            trust_remote_code=env.get("TRUST_REMOTE_CODE", "false").lower() == "true",
        )


def calibration_dir(hf_home: Path, dataset: str) -> Path:
    """Where the prefill Job puts a calibration dataset's files (their hub paths below it)."""
    return hf_home / "calibration" / dataset


def calibration_file(hf_home: Path, dataset: str, name: str) -> Path:
    return calibration_dir(hf_home, dataset) / name


def calibration_texts(files: tuple[Path, ...], field: str, samples: int) -> list[str]:
    """The first `samples` texts of the calibration files (parquet), in file order."""
    import pyarrow.parquet as pq

    if not files:
        raise QuantizeError("CALIBRATION_FILES is required for a quantization that calibrates")
    texts: list[str] = []
    for path in files:
        if not path.is_file():
            raise QuantizeError(
                f"calibration file {path} is missing: the model cache prefill Job "
                "downloads it; check that Job"
            )
        table = pq.read_table(path)
        if field not in table.column_names:
            raise QuantizeError(
                f"CALIBRATION_TEXT_FIELD {field!r} is not a column of {path.name} "
                f"({', '.join(table.column_names)})"
            )
        texts += table.column(field).slice(0, samples - len(texts)).to_pylist()
        if len(texts) >= samples:
            break
    return texts


def is_complete(directory: Path) -> bool:
    return (directory / QUANT_CONFIG_FILE).is_file() and (directory / "config.json").is_file()


def quantize(job: QuantizeJob, checkpoint: str) -> Path:
    """Quantize `checkpoint` with ModelOpt and export it to job.output_dir."""
    import modelopt.torch.quantization as mtq
    import torch
    from modelopt.torch.export import export_hf_checkpoint
    from modelopt.torch.quantization.config import need_calibration
    from modelopt.torch.utils.dataset_utils import create_forward_loop, get_max_batch_size
    from torch.utils.data import DataLoader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = getattr(mtq, MODELOPT_CONFIGS[job.quantization])
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=job.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    published_padding = tokenizer.padding_side
    # Left padding, as ModelOpt's recipe sets for calibration accuracy.
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint,
        torch_dtype="auto",
        device_map="auto",
        trust_remote_code=job.trust_remote_code,
    ).eval()

    forward_loop = None
    if need_calibration(config):
        texts = calibration_texts(
            job.calibration_files, job.calibration_text_field, job.calibration_samples
        )
        batch_size = job.calibration_batch_size or max(
            1, min(get_max_batch_size(model, job.calibration_max_length), len(texts))
        )
        encoded = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=job.calibration_max_length,
        ).to(model.device)
        batches = DataLoader(
            [{"input_ids": ids} for ids in encoded["input_ids"]], batch_size=batch_size
        )
        forward_loop = create_forward_loop(dataloader=batches)
        logger.info("calibrating on %d samples, batch size %d", len(texts), batch_size)
    model = mtq.quantize(model, config, forward_loop=forward_loop)

    scratch = job.output_dir.with_name(job.output_dir.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    with torch.inference_mode():
        export_hf_checkpoint(model, export_dir=scratch)
    tokenizer.padding_side = published_padding
    tokenizer.save_pretrained(scratch)
    if not is_complete(scratch):
        raise QuantizeError(f"ModelOpt's export wrote no {QUANT_CONFIG_FILE} into {scratch}")
    shutil.rmtree(job.output_dir, ignore_errors=True)
    scratch.rename(job.output_dir)
    return job.output_dir


def run(job: QuantizeJob) -> Path:
    from service.model_files import local_model

    if is_complete(job.output_dir):
        logger.info("quantized checkpoint %s is already complete", job.output_dir)
        return job.output_dir
    checkpoint = local_model(job.model_path, job.model_revision)
    started = time.monotonic()
    out = quantize(job, checkpoint)
    logger.info(
        "quantized %s@%s to %s (%s) in %.0f s",
        job.model_path,
        job.model_revision or "main",
        job.quantization,
        out,
        time.monotonic() - started,
    )
    return out


def main(env: Mapping[str, Any] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from service.model_files import ModelNotCached

    try:
        run(QuantizeJob.from_env(os.environ if env is None else env))
    except (QuantizeError, ModelNotCached) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
