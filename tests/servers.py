"""Real servers for every test that needs one: uvicorn in a thread, or `python -m
service` as a process, started by the benchmarks' own `serve` so tests and benchmarks
start it one way.

Both bind 127.0.0.1 only. The thread server gets a socket bound to port 0 before it
starts, so there is no window in which another process can take the port.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from benchmarks.servers import Server, serve
from service.app import create_app
from service.engines.base import Engine
from service.runtime import Runtime
from service.server import DrainingServer, uvicorn_config
from service.settings import Settings

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
def ready_client(settings: Settings, engine: Engine | None = None) -> Iterator[TestClient]:
    """The app in-process (TestClient runs its lifespan), once its engine has loaded;
    `client.app.state.runtime` is its Runtime."""
    app = create_app(settings, engine)
    with TestClient(app) as client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        yield client


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


@contextlib.contextmanager
def process_server(
    args: list[str], env: Mapping[str, str] | None = None, wait_ready: bool = True
) -> Iterator[Server]:
    """`python -m service` with the given flags on a free port, until the block ends;
    what it printed is in `server.log`."""
    health_path = "/health/ready" if wait_ready else "/health/live"
    with (
        tempfile.TemporaryDirectory(prefix="service-") as logs,
        serve(
            "service",
            ["-m", "service", *args],
            env=env,
            health_path=health_path,
            log_dir=Path(logs),
            ready_timeout_s=STARTUP_TIMEOUT_S,
        ) as server,
    ):
        yield server
