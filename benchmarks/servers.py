"""Start servers under test as subprocesses on free 127.0.0.1 ports, and stop them."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    health_path: str
    # Everything the server printed, stdout and stderr.
    log: Path
    process: subprocess.Popen[bytes]


def reference_server_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a reference server (bare_server, guide_server): where it
    listens, as `serve` starts it (--port)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    return parser


def run_reference_server(app: Any, args: argparse.Namespace) -> None:
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


class ServerStartError(RuntimeError):
    pass


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise ServerStartError(f"{url}: server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise ServerStartError(f"{url}: not ready within {timeout_s:g} s (log: {log})")


@contextmanager
def serve(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    health_path: str,
    log_dir: Path,
    port: int | None = None,
    ready_timeout_s: float = 120.0,
) -> Iterator[Server]:
    """Run `python <argv> --port P` (P free unless given) until the block ends."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, *argv, "--host", HOST, "--port", str(port)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=sink, stderr=subprocess.STDOUT)
        base_url = f"http://{HOST}:{port}"
        try:
            _wait_ready(base_url + health_path, proc, log, ready_timeout_s)
            yield Server(name, base_url, health_path, log, proc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
