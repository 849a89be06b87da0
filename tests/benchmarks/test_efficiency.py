"""The streaming-efficiency benchmark's parts: server CPU read from /proc, the bare SSE
baseline's stream, and its section of RESULTS.md."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi.testclient import TestClient

from benchmarks.bare_server import DEFAULT_BODY, create_app
from benchmarks.efficiency import cpu_seconds
from benchmarks.results_md import render_efficiency


def test_cpu_seconds_counts_this_process_work() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    # Clock ticks are 10 ms: the 200 ms burned shows up, give or take a tick or two.
    assert cpu_seconds(os.getpid()) - before >= 0.15


def test_bare_sse_endpoint_streams_one_event_per_token_then_done() -> None:
    client = TestClient(create_app(DEFAULT_BODY, itl_ms=0))
    body = {"prompt": "hi", "max_tokens": 5, "stream": True}
    with client.stream("POST", "/v1/completions", json=body) as resp:
        events = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert len(events) == 6
    assert events[-1] == "data: [DONE]"
    assert '"finish_reason": "length"' in events[-2]


def _result(pinned: bool) -> dict[str, Any]:
    def point(server: str, us: float) -> dict[str, Any]:
        return {"server": server, "streams": 128, "tokens_per_s": 12000.0, "failed": 0,
                "cpu_us_per_token": us, "itl_p50_ms": 10.0, "itl_p99_ms": 12.5}  # fmt: skip

    return {
        "command": "python -m benchmarks.efficiency",
        "started": "2026-01-01 00:00:00 UTC",
        "machine": {"cpu": "Test CPU", "cores": 16, "load_average_at_start": "0.1"},
        "pinned": pinned,
        "clients": 8,
        "itl_ms": 10.0,
        "tokens": 300,
        "streams": [128],
        "points": [point("bare", 30.0), point("ours", 15.0)],
        "burst": {"ratio": 1.05, "wall_64_ms": 160.0, "wall_1_ms": 152.0},
    }


def test_results_section_shows_both_machines_and_the_cpu_ratio() -> None:
    text = "\n".join(render_efficiency(_result(False), _result(True)))
    assert (
        text.count("| 128 | 12.8k | 12.0k, 30.0, 10.0 / 12.5 | 12.0k, 15.0, 10.0 / 12.5 | 0.50 |")
        == 2
    )
    assert "pinned to one core" in text
    assert "wall(64) / wall(1) = 1.050" in text


def test_results_section_says_how_to_produce_a_missing_run() -> None:
    text = "\n".join(render_efficiency(_result(False), None))
    assert "python -m benchmarks.efficiency --device" in text


def test_results_section_shows_token_lag_where_the_run_measured_it() -> None:
    run = _result(False)
    for p in run["points"]:
        p.update(lag_p50_ms=4.0, lag_p99_ms=20.0)
    text = "\n".join(render_efficiency(run, _result(True)))
    cells = "12.0k, 30.0, 10.0 / 12.5, 4.0 / 20.0 | 12.0k, 15.0, 10.0 / 12.5, 4.0 / 20.0"
    assert f"| 128 | 12.8k | {cells} | 0.50 |" in text
    assert "ITL p50 / p99 ms, lag p50 / p99 ms" in text
