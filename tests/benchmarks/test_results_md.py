"""RESULTS.md shows every figure with its target and verdict, and the GPU section."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.results_md import render_markdown
from benchmarks.run import engine_time_ms
from benchmarks.servers import REPO


def _document() -> dict[str, Any]:
    dist = {"count": 1, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "mean_ms": 1, "max_ms": 3}
    return {
        "started": "2026-01-01 00:00:00 UTC",
        "command": "python -m benchmarks.run",
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "platform": "Linux",
            "python": "3.11.0",
            "load_average_at_start": "0.1 0.1 0.1",
            "load_average_at_end": "0.2 0.2 0.2",
            "packages": {"fastapi": "0.121.3", "torch": "not installed"},
        },
        "figures": [
            {
                "benchmark": "1 concurrency",
                "name": "ours",
                "value": 1.07,
                "unit": "x",
                "target": "<= 1.15",
                "passed": True,
                "note": "median",
            },
            {
                "benchmark": "2 overhead",
                "name": "ratio",
                "value": 0.5,
                "unit": "x",
                "target": ">= 0.6",
                "passed": False,
                "note": "",
            },
        ],
        "load_commands": ["python -m benchmarks.load --base-url <server> --users 64"],
        "details": {
            "sweep": [
                {
                    "concurrency": 1,
                    "successes": 4,
                    "requests": 4,
                    "e2e": dist,
                    "ttft": dist,
                    "requests_per_s": 5.0,
                    "output_tokens_per_s": 95.0,
                }
            ]
        },
    }


def test_markdown_lists_each_figure_with_target_and_verdict() -> None:
    text = render_markdown(_document(), gpu=None)
    assert "| 1 concurrency | ours | 1.070 x | <= 1.15 | **pass** |" in text
    assert "| 2 overhead | ratio | 0.500 x | >= 0.6 | **FAIL** |" in text
    assert "Test CPU, 2 cores" in text
    assert "fastapi 0.121.3" in text and "torch" not in text.split("## Figures")[0]
    assert "--users 64" in text
    assert "concurrency.png" in text
    assert "Not measured in this run" in text


def test_markdown_includes_gpu_rows_when_present() -> None:
    gpu = {
        "command": "python -m benchmarks.gpu",
        "environment": {"gpu": "NVIDIA H100", "driver": "580", "torch": "2.11", "python": "3.12"},
        "model": {
            "parameters": 97_000_000,
            "layers": 12,
            "hidden_size": 768,
            "dtype": "bfloat16",
        },
        "rows": [
            {
                "path": "direct",
                "concurrency": 1,
                "requests": 8,
                "output_tokens_per_s": 900.0,
                "ttft_p50_ms": 8.0,
                "ttft_p99_ms": 9.0,
                "e2e_p50_ms": 140.0,
            }
        ],
        "notes": ["- concurrency 1: server tokens/s = 0.98 x direct"],
    }
    text = render_markdown(_document(), gpu=gpu)
    assert "NVIDIA H100" in text
    assert "| direct | 1 | 8 | 900.0 | 8.0 | 9.0 | 140.0 |" in text
    assert "0.98 x direct" in text


def test_markdown_includes_the_hostile_clients_table_when_present() -> None:
    assert "python -m benchmarks.hostile" in render_markdown(_document(), gpu=None)
    hostile = json.loads((REPO / "benchmarks" / "hostile_results.json").read_text())
    text = render_markdown(_document(), gpu=None, hostile=hostile)
    for attack in hostile["attacks"]:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {attack['name']} |")]
        assert ("**pass**" in row) == attack["passed"]


def test_engine_time_counts_ttft_then_one_gap_per_further_token() -> None:
    assert engine_time_ms(20, 10, 19) == 200
    assert engine_time_ms(50, 10, 1) == 50
