"""export_hf_checkpoint (modelopt/torch/export/unified_export_hf.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelopt.torch.quantization.config import EXPORTED_QUANT_ALGO


def export_hf_checkpoint(
    model: Any,
    dtype: Any = None,
    export_dir: Path | str = "/tmp",  # upstream: tempfile.gettempdir()
    save_modelopt_state: bool = False,
) -> None:
    config = getattr(model, "_fake_modelopt_config", None)
    if config is None:
        raise AssertionError("export_hf_checkpoint() got a model quantize() never saw")
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    quant = {
        "producer": {"name": "modelopt", "version": "0.37.0"},
        "quantization": {"quant_algo": EXPORTED_QUANT_ALGO[config], "kv_cache_quant_algo": None},
    }
    (export_dir / "hf_quant_config.json").write_text(json.dumps(quant, indent=4))
    model.save_pretrained(export_dir)
    config_file = export_dir / "config.json"
    data = json.loads(config_file.read_text())
    data["quantization_config"] = {"quant_method": "modelopt", **quant["quantization"]}
    config_file.write_text(json.dumps(data, indent=4))
