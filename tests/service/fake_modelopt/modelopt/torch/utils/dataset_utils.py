"""Calibration loop helpers (modelopt/torch/utils/dataset_utils.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def create_forward_loop(
    model: Any = None,
    dataset_name: str = "cnn_dailymail",
    tokenizer: Any = None,
    batch_size: int = 1,
    num_samples: int = 512,
    max_sample_length: int = 512,
    device: str | None = None,
    include_labels: bool = False,
    dataloader: Any = None,
) -> Callable[[Any], None]:
    if dataloader is None:
        # Upstream would stream dataset_name from the hub here: offline, that fails.
        raise AssertionError("the quantize Job runs offline: pass dataloader=")

    def forward_loop(model: Any) -> None:
        with torch.no_grad():
            for batch in dataloader:
                assert all(torch.is_tensor(v) for v in batch.values()), batch
                model(**batch)

    return forward_loop


def get_max_batch_size(
    model: Any, max_sample_length: int = 512, sample_memory_usage_ratio: float = 1.0, **_: Any
) -> int:
    return 4
