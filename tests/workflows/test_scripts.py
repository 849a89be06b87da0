"""The README's commands: scripts lint clean, .ci/run maps exit statuses, set-up is
idempotent, and the demo serves the API it advertises."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tools import REPO_ROOT, complaints, free_port, run_tool, shellcheck_bin

SHELL_SCRIPTS = [*sorted((REPO_ROOT / "scripts").glob("*.sh")), REPO_ROOT / ".ci" / "run"]
DEMO_START_TIMEOUT_SECONDS = 120.0


def test_shell_scripts_pass_shellcheck() -> None:
    report = complaints([shellcheck_bin(), *map(str, SHELL_SCRIPTS)], timeout=60)
    assert report == "", report


@pytest.mark.parametrize(
    ("test_status", "e2e_status", "ci_status", "message"),
    [
        (0, 0, 0, None),
        (1, 0, 1, "scripts/test.sh failed with exit status 1"),
        (5, 0, 1, "collected no tests in scripts/test.sh"),
        (0, 1, 1, "scripts/e2e.sh failed with exit status 1"),
        (0, 5, 1, "collected no tests in scripts/e2e.sh"),
    ],
)
def test_ci_run_propagates_failures_and_rejects_an_empty_suite(
    tmp_path: Path, test_status: int, e2e_status: int, ci_status: int, message: str | None
) -> None:
    # .ci/run is run from a copy whose scripts only exit with a chosen status; the
    # end-to-end stub leaves a mark, so a failed test.sh is seen to stop CI before it.
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts" / "test.sh").write_text(f"exit {test_status}\n")
    (tmp_path / "scripts" / "e2e.sh").write_text(f"touch e2e-ran\nexit {e2e_status}\n")
    result = run_tool(["bash", str(tmp_path / ".ci" / "run")], timeout=30)
    assert result.returncode == ci_status
    if message:
        assert message in result.stderr
    assert (tmp_path / "e2e-ran").exists() is (test_status == 0)


def test_setup_is_a_no_op_once_done() -> None:
    # scripts/test.sh ran it before pytest; a second run must not reinstall anything.
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "installing" not in result.stderr, result.stderr
    assert result.stderr.count("up to date") == 2, result.stderr


@dataclass
class Demo:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", str(REPO_ROOT / "scripts" / "demo.sh")],
            env={**os.environ, "PORT": str(port)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the server goes with it
        )
    try:
        yield Demo(port, process, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def get_json(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_demo_renders_dev_manifests_and_serves_the_printed_examples(demo: Demo) -> None:
    base = f"http://127.0.0.1:{demo.port}"
    deadline = time.monotonic() + DEMO_START_TIMEOUT_SECONDS
    while True:
        assert demo.process.poll() is None, f"demo.sh exited:\n{demo.output()}"
        try:
            get_json(f"{base}/health/ready")
            break
        except OSError:
            assert time.monotonic() < deadline, f"never ready:\n{demo.output()}"
            time.sleep(0.25)
    manifests = REPO_ROOT / "build" / "manifests" / "dev"
    assert any(manifests.rglob("*.yaml")), f"no manifests under {manifests}"
    models = get_json(f"{base}/v1/models")
    model = models["data"][0]["id"]  # type: ignore[index]
    reply = get_json(
        f"{base}/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8},
    )
    assert reply["choices"][0]["message"]["content"]  # type: ignore[index]
    # The banner's examples must point at the port the server really uses.
    assert f"curl -s {base}/v1/models" in demo.output()


@pytest.mark.parametrize("failing", ["check", "format"])
def test_test_command_stops_on_ruff_errors(tmp_path: Path, failing: str) -> None:
    # A copy of scripts/test.sh whose set-up is a no-op, whose ruff fails on one
    # sub-command and whose pytest leaves a mark: a lint error must fail the run
    # before any test starts.
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "test.sh", tmp_path / "scripts" / "test.sh")
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "ruff").write_text(f'#!/bin/sh\n[ "$1" = {failing} ] && exit 1\nexit 0\n')
    (bin_dir / "python").write_text(f"#!/bin/sh\ntouch {tmp_path}/pytest-ran\n")
    for tool in ("ruff", "python"):
        (bin_dir / tool).chmod(0o755)
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "test.sh")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "pytest-ran").exists()
