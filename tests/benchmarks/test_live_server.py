"""The load generator and the runner against our real server on the simulated engine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.servers import Server, serve
from tests.benchmarks.helpers import REPO, read_report, run_load


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "ENGINE": "simulated",
        "SIMULATED_TTFT_MS": "5",
        "SIMULATED_ITL_MS": "1",
        "LOG_LEVEL": "warning",
    }
    logs = tmp_path_factory.mktemp("live-server")
    with serve("live", ["-m", "service"], env=env, health_path="/health/ready", log_dir=logs) as s:
        yield s


@pytest.mark.parametrize("mode", ["completions", "chat", "generate"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_mode_succeeds_and_counts_tokens(
    live: Server, tmp_path: Path, mode: str, stream: bool
) -> None:
    out = tmp_path / "r.json"
    args = ["--base-url", live.base_url, "--mode", mode, "--users", "2", "--requests", "2"]
    args += ["--max-tokens", "8", "--json", str(out), *(["--stream"] if stream else [])]
    proc = run_load(*args)
    assert proc.returncode == 0, proc.stderr
    (run,) = read_report(out)["runs"]
    assert run["by_status"] == {"200": 4}, run["errors"]
    assert run["output_tokens"] == 4 * 8
    if stream:
        assert run["ttft"]["count"] == 4
        # 8 tokens, at most 7 gaps per stream (tokens ready together share an event).
        assert run["itl"]["count"] <= 4 * 7
    else:
        assert run["ttft"]["count"] == 0


def test_wrong_api_key_is_reported_as_401_failures(tmp_path: Path) -> None:
    env = {"ENGINE": "simulated", "API_KEYS": "sk-right-key-123", "LOG_LEVEL": "warning"}
    with serve(
        "auth", ["-m", "service"], env=env, health_path="/health/ready", log_dir=tmp_path
    ) as server:
        out = tmp_path / "r.json"
        base = ["--base-url", server.base_url, "--model", "simulated", "--json", str(out)]
        proc = run_load(*base, "--api-key", "sk-wrong-key-456", "--requests", "2")
        assert proc.returncode == 1, proc.stderr
        assert "2 of 2 requests failed (401: 2)" in proc.stderr
        assert read_report(out)["runs"][0]["by_status"] == {"401": 2}
        proc = run_load(*base, "--api-key", "sk-right-key-123", "--requests", "2")
        assert read_report(out)["runs"][0]["by_status"] == {"200": 2}


def test_runner_backpressure_writes_results(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--only", "backpressure"]
    proc = subprocess.run(
        [*command, "--duration", "1", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    (figure,) = document["figures"]
    assert figure["benchmark"] == "4 back-pressure"
    run = document["details"]["backpressure"]["run"]
    # The client count overflows the admission window, so some requests are refused.
    assert run["by_status"].get("429", 0) > 0
    assert document["machine"]["cores"] >= 1
    text = (tmp_path / "RESULTS.md").read_text()
    assert "4 back-pressure" in text and "Machine" in text


def test_runner_clock_reports_how_closely_the_simulated_engine_keeps_its_itl(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--only", "clock", "--out", str(tmp_path)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    (figure,) = json.loads((tmp_path / "results.json").read_text())["figures"]
    assert figure["benchmark"] == "5 clock"
    # A clock that ignored the ITL would be 10 ms off; a loaded machine, well under that.
    assert 0 <= figure["value"] < 5
