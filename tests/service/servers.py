"""Real servers for tests: uvicorn in a thread, or `python -m service` as a process.

Both bind 127.0.0.1 only. The thread server gets a socket bound to port 0 before it
starts, so there is no window in which another process can take the port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.app import create_app
from service.engines.base import Engine
from service.runtime import Runtime
from service.server import DrainingServer, uvicorn_config
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0


def fast_settings(**overrides: object) -> Settings:
    """Settings for tests: simulated engine without delays unless a test asks."""
    values: dict[str, object] = {"simulated_ttft_ms": 0, "simulated_itl_ms": 0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class ThreadServer:
    base_url: str
    server: DrainingServer
    runtime: Runtime

    @property
    def engine(self) -> Engine:
        return self.runtime.engine


def wait_until(condition: object, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


@contextlib.contextmanager
def thread_server(
    settings: Settings, engine: Engine | None = None, wait_ready: bool = True
) -> Iterator[ThreadServer]:
    app = create_app(settings, engine)
    config = uvicorn_config(app, settings)
    runtime: Runtime = app.state.runtime
    server = DrainingServer(config, runtime, settings.drain_timeout_seconds)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, STARTUP_TIMEOUT_S), "uvicorn did not start"
        live = ThreadServer(f"http://127.0.0.1:{port}", server, runtime)
        if wait_ready:
            assert wait_until(lambda: runtime.phase == "ready", STARTUP_TIMEOUT_S), runtime.phase
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProcessServer:
    process: subprocess.Popen[str]
    base_url: str


@contextlib.contextmanager
def process_server(
    args: list[str], env: Mapping[str, str] | None = None, wait_ready: bool = True
) -> Iterator[ProcessServer]:
    """`python -m service` with the given flags on a free port; stderr is kept."""
    port = free_port()
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        path = "/health/ready" if wait_ready else "/health/live"

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
            try:
                return httpx.get(base_url + path, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(answers, STARTUP_TIMEOUT_S, 0.1), f"{path} never answered 200"
        yield ProcessServer(process, base_url)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
