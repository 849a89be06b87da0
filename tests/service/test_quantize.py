"""The quantize Job's entry point over a fake ModelOpt: offline, calibrated, exported whole.

A tiny real Llama checkpoint (transformers on CPU) stands in for the prefilled model,
a parquet file for the calibration text the prefill Job downloads, and
tests/service/fake_modelopt for nvidia-modelopt (its README says what it models).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants

from service import quantize as entry
from service.quantize import MODELOPT_CONFIGS, QuantizeJob, calibration_file
from tests.service.tiny_model import WORDS, build_tiny_llama

FAKE = Path(__file__).parent / "fake_modelopt"
DATASET = "abisee/cnn_dailymail"
FILES = ("3.0.0/train-00000-of-00003.parquet", "3.0.0/train-00001-of-00003.parquet")


@pytest.fixture
def modelopt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(FAKE))
    for name in [m for m in sys.modules if m == "modelopt" or m.startswith("modelopt.")]:
        monkeypatch.delitem(sys.modules, name)
    import modelopt.torch.quantization as mtq

    mtq.CALLS.clear()
    yield mtq


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def hf_home(tmp_path: Path) -> Path:
    # Two parquet shards as the hub serves cnn_dailymail: 3 + 3 articles.
    for index, name in enumerate(FILES):
        path = calibration_file(tmp_path, DATASET, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        articles = [" ".join(WORDS[index * 3 + n : index * 3 + n + 5]) for n in range(3)]
        pq.write_table(pa.table({"article": articles, "id": ["x"] * 3}), path)
    return tmp_path


def env_for(hf_home: Path, checkpoint: Path, **changes: str) -> dict[str, str]:
    return {
        "HF_HOME": str(hf_home),
        "MODEL_PATH": str(checkpoint),
        "QUANTIZATION": "fp8",
        "QUANTIZED_DIR": str(hf_home / "quantized" / "0123456789"),
        "CALIBRATION_DATASET": DATASET,
        "CALIBRATION_FILES": ",".join(FILES),
        "CALIBRATION_TEXT_FIELD": "article",
        "CALIBRATION_SAMPLES": "5",
        **changes,
    }


def test_fp8_calibrates_on_the_cached_text_and_exports_a_modelopt_checkpoint(
    modelopt: Any, hf_home: Path, checkpoint: Path
) -> None:
    env = env_for(hf_home, checkpoint)
    assert entry.main(env) == 0
    out = Path(env["QUANTIZED_DIR"])
    # Five samples, spanning both shards, in batches of the fake's get_max_batch_size (4).
    assert modelopt.CALLS == [{"config": "FP8_DEFAULT_CFG", "batches": 2, "samples": 5}]
    quant = json.loads((out / "hf_quant_config.json").read_text())
    assert quant["quantization"]["quant_algo"] == "FP8"
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["quant_algo"] == "FP8"
    # A checkpoint TensorRT-LLM can load alone: the tokenizer travels with it.
    assert (out / "tokenizer.json").is_file() and (out / "model.safetensors").is_file()
    assert not out.with_name(out.name + ".partial").exists()


@pytest.mark.parametrize("quantization", sorted(MODELOPT_CONFIGS))
def test_each_quantization_exports_under_its_own_name(
    quantization: str, modelopt: Any, hf_home: Path, checkpoint: Path
) -> None:
    # model.quantization is spelt as the quant_algo TensorRT-LLM reads back, in lower case.
    env = env_for(hf_home, checkpoint, QUANTIZATION=quantization, CALIBRATION_BATCH_SIZE="2")
    assert entry.main(env) == 0
    quant = json.loads((Path(env["QUANTIZED_DIR"]) / "hf_quant_config.json").read_text())
    assert quant["quantization"]["quant_algo"].lower() == quantization
    (call,) = modelopt.CALLS
    # Dynamic per-token activations have nothing to calibrate: no calibration pass.
    assert (call["batches"] == 0) == (quantization == "fp8_per_channel_per_token"), call


def test_a_complete_export_is_not_quantized_again(
    modelopt: Any, hf_home: Path, checkpoint: Path
) -> None:
    env = env_for(hf_home, checkpoint)
    assert entry.main(env) == 0
    assert entry.main(env) == 0
    assert len(modelopt.CALLS) == 1


def test_missing_calibration_text_is_one_line_naming_the_prefill_job(
    modelopt: Any, hf_home: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration_file(hf_home, DATASET, FILES[0]).unlink()
    assert entry.main(env_for(hf_home, checkpoint)) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "prefill Job downloads it" in error, error
    assert modelopt.CALLS == []


def test_a_model_the_cache_lacks_stops_before_loading_anything(
    modelopt: Any,
    hf_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The Job runs with HF_HUB_OFFLINE=1: a missing checkpoint is never downloaded.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    missing = tmp_path / "not-there"
    assert entry.main(env_for(hf_home, missing)) == 2
    assert "does not exist" in capsys.readouterr().err
    assert modelopt.CALLS == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"QUANTIZATION": "mxfp4"}, "QUANTIZATION 'mxfp4' has no ModelOpt config"),
        ({"QUANTIZED_DIR": ""}, "QUANTIZED_DIR is required"),
        ({"CALIBRATION_SAMPLES": "0"}, "CALIBRATION_SAMPLES must be an integer >= 1"),
    ],
)
def test_bad_settings_name_the_variable(
    changes: dict[str, str], message: str, hf_home: Path, checkpoint: Path
) -> None:
    with pytest.raises(entry.QuantizeError, match=message):
        QuantizeJob.from_env(env_for(hf_home, checkpoint, **changes))
