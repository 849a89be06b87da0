"""The load generator against a stub server: what counts as success, what it writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from benchmarks.load.client import build_body, send
from benchmarks.load.runner import LoadConfig, LoadRun
from tests.benchmarks.helpers import REPO, read_report, run_load
from tests.benchmarks.stub_server import SLOW_HITS

RUN_KEYS = {
    "label",
    "concurrency",
    "wall_s",
    "requests",
    "successes",
    "failures",
    "timeouts",
    "by_status",
    "rejected_without_retry_after",
    "e2e",
    "ttft",
    "itl",
    "output_tokens",
    "output_tokens_per_s",
    "requests_per_s",
    "interrupted",
    "errors",
}
DIST_KEYS = {"count", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms"}


async def _send(url: str, *, stream: bool, timeout: float = 5.0):
    async with aiohttp.ClientSession() as session:
        body = build_body("completions", "hi", 4, stream, "stub-model")
        return await send(session, url + "/v1/completions", body, stream=stream, timeout_s=timeout)


async def test_2xx_json_is_a_success_with_usage_tokens(stub_url: str) -> None:
    result = await _send(f"{stub_url}/ok", stream=False)
    assert result.ok and result.status == 200
    assert result.output_tokens == 3


async def test_stream_times_first_token_and_gaps(stub_url: str) -> None:
    result = await _send(f"{stub_url}/ok", stream=True)
    assert result.ok, result.error
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.e2e_s
    assert len(result.itl_s) == 3  # 4 content events, 3 gaps
    assert result.output_tokens == 4  # from the usage chunk


@pytest.mark.parametrize(
    ("prefix", "status", "stream", "retry_after"),
    [
        ("reject", 429, False, "1"),
        ("reject-bare", 429, False, None),
        ("fail", 500, False, None),
        ("stream-error", 200, True, None),
        ("stream-cut", 200, True, None),
    ],
)
async def test_failures_are_never_successes(
    stub_url: str, prefix: str, status: int, stream: bool, retry_after: str | None
) -> None:
    result = await _send(f"{stub_url}/{prefix}", stream=stream)
    assert not result.ok
    assert result.status == status
    assert result.retry_after == retry_after
    assert result.error


async def test_timeout_is_a_failure_and_counted(stub_url: str) -> None:
    result = await _send(f"{stub_url}/slow", stream=False, timeout=0.05)
    assert not result.ok and result.timed_out


async def test_connection_refused_is_a_failure() -> None:
    result = await _send("http://127.0.0.1:9", stream=False, timeout=2)
    assert not result.ok and result.status is None and not result.timed_out


async def test_open_loop_sends_exactly_the_bounded_count(stub_url: str) -> None:
    config = LoadConfig(
        base_url=f"{stub_url}/ok",
        mode="completions",
        stream=False,
        max_tokens=4,
        prompts=["a"],
        timeout_s=5,
        rate=200.0,
        num_requests=15,
    )
    outcome = await LoadRun(config).execute()
    assert len(outcome.results) == 15
    assert all(r.ok for r in outcome.results)
    assert not outcome.interrupted


def test_cli_counts_429_as_failure_and_writes_json(stub_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = run_load(
        "--base-url", f"{stub_url}/reject", "--users", "3", "--requests", "2", "--json", str(out)
    )
    # Every request failed: the report is still written, and the exit status says so.
    assert proc.returncode == 1, proc.stderr
    assert "429" in proc.stdout
    assert "error: 6 of 6 requests failed (429: 6)" in proc.stderr
    doc = read_report(out)
    assert doc["schema_version"] == 1
    assert doc["config"]["users"] == 3
    assert "api_key" not in doc["config"]
    (run,) = doc["runs"]
    assert set(run) == RUN_KEYS
    assert set(run["e2e"]) == DIST_KEYS
    assert run["requests"] == 6
    assert run["successes"] == 0
    assert run["failures"] == 6
    assert run["by_status"] == {"429": 6}
    assert run["rejected_without_retry_after"] == 0


def test_cli_sweep_writes_plot_and_one_run_per_level(stub_url: str, tmp_path: Path) -> None:
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    proc = run_load(
        "--base-url",
        f"{stub_url}/ok",
        "--stream",
        "--concurrency",
        "1,2,4",
        "--requests",
        "2",
        "--json",
        str(out),
        "--plot",
        str(png),
    )
    assert proc.returncode == 0, proc.stderr
    runs = read_report(out)["runs"]
    assert [r["concurrency"] for r in runs] == [1, 2, 4]
    assert [r["successes"] for r in runs] == [2, 4, 8]
    assert all(r["ttft"]["count"] == r["successes"] for r in runs)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "concurrency sweep" in proc.stdout


def test_cli_reads_prompt_files(stub_url: str, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "one"}\n"two"\n')
    proc = run_load("--base-url", f"{stub_url}/ok", "--prompts", str(prompts))
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "one"}\n{"nope": 1}\n')
    proc = run_load("--base-url", f"{stub_url}/ok", "--prompts", str(bad))
    assert proc.returncode == 2
    assert "bad.jsonl:2" in proc.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--users", "0"], "--users"),
        (["--rate", "5"], "--rate needs a bound"),
        (["--plot", "x.png"], "--plot needs a sweep"),
        (["--concurrency", "1,x"], "--concurrency"),
        (["--base-url", "localhost:8000"], "--base-url"),
        (["--num-requests", "3"], "--num-requests"),
    ],
)
def test_cli_rejects_bad_arguments_naming_the_flag(args: list[str], flag: str) -> None:
    proc = run_load(*args, timeout=30)
    assert proc.returncode == 2
    assert flag in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_prints_partial_results(stub_url: str, tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    # 2 users x 100 requests of 0.3 s would take 15 s; SIGINT stops it early.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--quiet",
            "--base-url",
            f"{stub_url}/slow",
            "--users",
            "2",
            "--requests",
            "100",
            "--json",
            str(out),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt once requests are flowing, so the signal handler is installed.
        hits_before = len(SLOW_HITS)
        deadline = time.monotonic() + 30
        while len(SLOW_HITS) < hits_before + 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    assert "Traceback" not in stderr
    doc = read_report(out)
    assert doc["interrupted"] is True
    assert 0 < doc["runs"][0]["requests"] < 200
    assert doc["runs"][0]["failures"] == 0  # cancelled requests are not counted


def test_allow_failures_keeps_exit_zero_and_still_summarises(stub_url: str) -> None:
    proc = run_load("--base-url", f"{stub_url}/reject", "--allow-failures")
    assert proc.returncode == 0, proc.stderr
    assert "error: 1 of 1 requests failed (429: 1)" in proc.stderr


def test_unreachable_server_fails_with_the_reason() -> None:
    proc = run_load("--base-url", "http://127.0.0.1:9", "--requests", "2", timeout=30)
    assert proc.returncode == 1
    assert "2 of 2 requests failed (error: 2); most common error" in proc.stderr


def test_help_shows_defaults_and_mode_choices() -> None:
    proc = run_load("--help", timeout=30)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "completions, chat, generate" in text or "{completions,chat,generate}" in text
    assert "(default: 64)" in text and "(default: http://127.0.0.1:8000)" in text
    assert "Exit status" in text
