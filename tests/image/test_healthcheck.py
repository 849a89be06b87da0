"""The image's HEALTHCHECK command, run as Docker would, against a real server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.image.dockerfile import parse
from tests.servers import process_server
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
    env = {"SIMULATED_LOAD_SECONDS": str(LOAD_SECONDS)}
    with process_server(["--engine", "simulated"], env=env, wait_ready=False) as server:
        yield int(server.base_url.rsplit(":", 1)[1])


def run_check(command: list[str], port: int) -> int:
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run(command, env=env, capture_output=True, timeout=15, check=False).returncode


def test_healthcheck_fails_while_loading_then_passes(
    healthcheck: list[str], server_port: int
) -> None:
    # Listening but still loading the model: Docker must not call it healthy yet.
    assert run_check(healthcheck, server_port) != 0, "healthy before the engine loaded"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while run_check(healthcheck, server_port) != 0:
        assert time.monotonic() < deadline, f"never healthy within {START_TIMEOUT_SECONDS}s"
        time.sleep(0.2)


def test_healthcheck_fails_when_nothing_listens(healthcheck: list[str]) -> None:
    assert run_check(healthcheck, free_port()) != 0
