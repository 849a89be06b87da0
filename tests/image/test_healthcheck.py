"""The image's HEALTHCHECK command, run as Docker would, against a real server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.image.dockerfile import parse
from tests.tools import free_port

LOAD_SECONDS = 2.0
START_TIMEOUT_SECONDS = 60.0


@pytest.fixture(params=["runtime", "cpu"])
def healthcheck(request: pytest.FixtureRequest) -> list[str]:
    command = parse().stage(request.param).exec_form("HEALTHCHECK")
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.fixture
def server_port() -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "SIMULATED_LOAD_SECONDS": str(LOAD_SECONDS)}
    command = [sys.executable, "-m", "service", "--engine", "simulated", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run_check(command: list[str], port: int) -> int:
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run(command, env=env, capture_output=True, timeout=15, check=False).returncode


def wait_until_live(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"server not live within {START_TIMEOUT_SECONDS}s")


def test_healthcheck_fails_while_loading_then_passes(
    healthcheck: list[str], server_port: int
) -> None:
    wait_until_live(server_port)
    # Listening but still loading the model: Docker must not call it healthy yet.
    assert run_check(healthcheck, server_port) != 0, "healthy before the engine loaded"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while run_check(healthcheck, server_port) != 0:
        assert time.monotonic() < deadline, f"never healthy within {START_TIMEOUT_SECONDS}s"
        time.sleep(0.2)


def test_healthcheck_fails_when_nothing_listens(healthcheck: list[str]) -> None:
    assert run_check(healthcheck, free_port()) != 0
