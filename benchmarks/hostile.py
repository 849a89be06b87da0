"""Hostile and careless clients against one server process, attack by attack.

    python -m benchmarks.hostile [--out benchmarks]

Starts `python -m service` (simulated engine, default limits) on a free loopback
port. A thread probes /health/live on a fresh connection every 100 ms (as the
kubelet does) and samples the server's RSS. Each attack runs alone; for each the
benchmark prints the answers' statuses, the slowest answer, the server's RSS growth
over its baseline and the worst probe latency during the attack, against targets:
every abusive input answered in < 1 s with RSS growth < 100 MB, probes < 250 ms
throughout, no 5xx. Writes hostile_results.json and refreshes RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import select
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.results_md import RESULTS_DIR
from benchmarks.servers import HOST, serve

ANSWER_TARGET_S = 1.0
RSS_TARGET_MB = 100.0
PROBE_TARGET_MS = 250.0
PROBE_INTERVAL_S = 0.1
# Kept short so the whole run takes a couple of minutes; the defaults are 30 s.
SEND_TIMEOUT_S = 3.0
SERVER_ENV = {"SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT_S), "LOG_LEVEL": "warning"}


@dataclass
class Attack:
    name: str
    statuses: Counter[str] = field(default_factory=Counter)
    slowest_answer_s: float = 0.0
    rss_growth_mb: float = 0.0
    worst_probe_ms: float = 0.0
    probe_failures: int = 0
    note: str = ""
    # Attacks on connections (idle, slow, pipelined) have no single answer to time.
    timed_answers: bool = True

    @property
    def passed(self) -> bool:
        return (
            (not self.timed_answers or self.slowest_answer_s < ANSWER_TARGET_S)
            and self.rss_growth_mb < RSS_TARGET_MB
            and self.worst_probe_ms < PROBE_TARGET_MS
            and self.probe_failures == 0
            and not any(status.startswith("5") for status in self.statuses)
        )


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Watch:
    """Probes and RSS samples in the background; read per attack window."""

    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.samples: list[tuple[float, float | None, int]] = []  # (time, probe ms, rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _probe(self) -> float | None:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            conn.request("GET", "/health/live")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        return (time.perf_counter() - started) * 1000 if ok else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._probe(), rss_bytes(self.pid)))
            self._stop.wait(PROBE_INTERVAL_S)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: float, end: float) -> list[tuple[float, float | None, int]]:
        return [s for s in self.samples if start <= s[0] <= end]


# --- clients


def http_post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request("POST", path, body=body, headers=all_headers)
        response = conn.getresponse()
        response.read()
        return str(response.status)
    except OSError as error:
        return type(error).__name__
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, read: bool = True) -> str:
    """Send raw bytes (ignoring a server that closes early); the status it answers."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        if not read:
            return "sent"
        try:
            answer = sock.recv(65536)
        except OSError as error:
            return type(error).__name__
    return answer.split(b" ", 2)[1].decode() if answer else "closed"


def items(item: bytes, count: int) -> bytes:
    return b",".join([item] * count)


def body_attacks() -> list[tuple[str, str, bytes]]:
    return [
        (
            "1M empty chat messages (3 MB)",
            "/v1/chat/completions",
            b'{"messages": [%s]}' % items(b"{}", 1_000_000),
        ),
        (
            "100k chat messages",
            "/v1/chat/completions",
            b'{"messages": [%s]}' % items(b'{"role": "user", "content": "hi"}', 100_000),
        ),
        (
            "logit_bias with 1M keys",
            "/v1/completions",
            b'{"prompt": "x", "logit_bias": {%s}}'
            % b",".join(b'"%d": 1' % i for i in range(1_000_000)),
        ),
        (
            "5M-item prompt list",
            "/v1/completions",
            b'{"prompt": [%s]}' % items(b'""', 5_000_000),
        ),
        (
            "5 MB model name (echoed in errors)",
            "/v1/completions",
            b'{"prompt": "x", "model": "%s"}' % (b"m" * 5_000_000),
        ),
        (
            "200k-deep nesting",
            "/generate",
            b'{"prompt": "x", "deep": %s}' % (b"[" * 200_000),
        ),
        ("lone surrogate in a prompt", "/generate", rb'{"prompt": "\ud800"}'),
        ("invalid UTF-8 in chat content", "/v1/chat/completions",
         b'{"messages": [{"role": "user", "content": "\xff"}]}'),
        ("fan-out: 16 prompts x n=8", "/v1/completions",
         b'{"prompt": [%s], "n": 8, "max_tokens": 8}' % items(b'"x"', 16)),
        # Under the value budget, so the per-request limits (settings) refuse these.
        ("logit_bias with 60k keys", "/v1/completions",
         b'{"model": "simulated", "prompt": "x", "logit_bias": {%s}}'
         % b",".join(b'"%d": 1' % i for i in range(60_000))),
        ("stop list of 60k strings", "/v1/completions",
         b'{"model": "simulated", "prompt": "x", "stop": [%s]}' % items(b'"stop"', 60_000)),
    ]  # fmt: skip


def run_body_attack(port: int, path: str, body: bytes, attack: Attack) -> None:
    started = time.perf_counter()
    attack.statuses[http_post(port, path, body)] += 1
    attack.slowest_answer_s = time.perf_counter() - started


def pipelining(port: int, attack: Attack, seconds: float = 5.0) -> None:
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    burst = request * 10_000
    answered = 0

    def read_answers(sock: socket.socket) -> None:
        nonlocal answered
        with contextlib.suppress(OSError):
            while chunk := sock.recv(1 << 20):
                answered += chunk.count(b"HTTP/1.1 200")

    with socket.create_connection((HOST, port), timeout=10) as sock:
        reader = threading.Thread(target=read_answers, args=(sock,), daemon=True)
        reader.start()
        deadline = time.monotonic() + seconds
        pushed = 0
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                pushed += sock.send(burst)
        sock.shutdown(socket.SHUT_RDWR)
        reader.join(10)
    attack.statuses["200"] += answered
    attack.note = (
        f"{pushed // len(request)} requests pushed in {seconds:.0f} s, {answered} answered"
    )
    attack.timed_answers = False


def idle_connections(port: int, attack: Attack, count: int = 2500, hold_s: float = 5.0) -> None:
    with contextlib.ExitStack() as stack:
        opened = 0
        for _ in range(count):
            try:
                stack.enter_context(socket.create_connection((HOST, port), timeout=5))
                opened += 1
            except OSError:
                attack.statuses["connect failed"] += 1
        time.sleep(hold_s)
    attack.note = f"{opened} idle connections held {hold_s:.0f} s (MAX_CONNECTIONS 2048)"
    attack.timed_answers = False


def slowloris(port: int, attack: Attack, count: int = 300, seconds: float = 5.0) -> None:
    socks = []
    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=5)
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.send(b"X-a: b\r\n")
        time.sleep(1)
    for sock in socks:
        sock.close()
    attack.note = f"{count} connections trickling header lines for {seconds:.0f} s"
    attack.timed_answers = False


def stalled_uploads(port: int, attack: Attack, count: int = 40) -> None:
    size = 16 * 2**20
    head = (
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % size
    )
    almost = b"{" + b" " * (size - 1024)
    socks = []

    def start_upload() -> tuple[socket.socket, str]:
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.sendall(head)
        # A refusal comes at once, from the headers alone.
        if select.select([sock], [], [], 0.5)[0]:
            answer = sock.recv(65536)
            return sock, answer.split(b" ", 2)[1].decode() if answer else "closed"
        with contextlib.suppress(OSError):
            sock.sendall(almost)
        return sock, "stalled"

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for sock, status in pool.map(lambda _: start_upload(), range(count)):
            socks.append(sock)
            attack.statuses[status] += 1
    attack.slowest_answer_s = time.perf_counter() - started
    time.sleep(2)
    for sock in socks:
        sock.close()
    attack.note = f"{count} x 16 MB bodies, all but 1 KB sent, then silence"
    attack.timed_answers = False


def huge_head(port: int, attack: Attack, what: str) -> None:
    header = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: "
    start = header if what == "header" else b"GET /"
    started = time.perf_counter()
    # The server refuses at 64 KiB; the rest of the "250 MB" never needs sending.
    attack.statuses[raw_exchange(port, start + b"a" * (4 * 2**20))] += 1
    attack.slowest_answer_s = time.perf_counter() - started


def unread_streams(port: int, attack: Attack, count: int = 64) -> None:
    body = json.dumps(
        {"model": "simulated", "prompt": ["x"] * 16, "n": 4, "max_tokens": 4000, "stream": True}
    )
    request = (
        f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((HOST, port))
        sock.sendall(request)
        socks.append(sock)
    started = time.perf_counter()
    # A normal request must still get through once the stalled streams are cut.
    deadline = time.monotonic() + SEND_TIMEOUT_S + 20
    status = "none"
    while time.monotonic() < deadline:
        status = http_post(
            port, "/v1/completions", b'{"model": "simulated", "prompt": "x", "max_tokens": 4}'
        )
        if status == "200":
            break
        time.sleep(0.2)
    attack.statuses[f"normal request {status}"] += 1
    freed = time.perf_counter() - started
    for sock in socks:
        sock.close()
    attack.note = (
        f"{count} streams never read; a normal request answered after {freed:.1f} s "
        f"(SEND_TIMEOUT_SECONDS={SEND_TIMEOUT_S:g})"
    )
    attack.timed_answers = False


def h2c_upgrade(port: int, attack: Attack) -> None:
    headers = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
               "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"}  # fmt: skip
    started = time.perf_counter()
    body = b'{"model": "simulated", "prompt": "x", "max_tokens": 3}'
    attack.statuses[http_post(port, "/v1/completions", body, headers)] += 1
    attack.slowest_answer_s = time.perf_counter() - started


def attacks(port: int) -> Iterator[tuple[str, Callable[[Attack], None]]]:
    for name, path, body in body_attacks():
        yield name, lambda a, p=path, b=body: run_body_attack(port, p, b, a)
    yield "250 MB header never finished", lambda a: huge_head(port, a, "header")
    yield "100 MB URL", lambda a: huge_head(port, a, "url")
    yield "POST with Upgrade: h2c (curl --http2)", lambda a: h2c_upgrade(port, a)
    yield "pipelined GET /health/live, 5 s", lambda a: pipelining(port, a)
    yield "2,500 idle connections", lambda a: idle_connections(port, a)
    yield "slowloris: 300 trickled headers", lambda a: slowloris(port, a)
    yield "40 stalled 16 MB uploads", lambda a: stalled_uploads(port, a)
    yield "64 streams never read", lambda a: unread_streams(port, a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    args = parser.parse_args(argv)
    results: list[Attack] = []
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            serve(
                "hostile",
                ["-m", "service", "--engine", "simulated"],
                env=SERVER_ENV,
                health_path="/health/ready",
                log_dir=Path("/tmp/bench-hostile"),
            )
        )
        port = int(server.base_url.rsplit(":", 1)[1])
        pid = server.process.pid
        watch = stack.enter_context(Watch(port, pid))
        time.sleep(1)
        for name, run in attacks(port):
            attack = Attack(name)
            baseline = rss_bytes(pid)
            start = time.monotonic()
            run(attack)
            time.sleep(3 * PROBE_INTERVAL_S)  # a probe or two after the attack too
            window = watch.window(start, time.monotonic())
            probes = [ms for _, ms, _ in window]
            attack.worst_probe_ms = max((ms for ms in probes if ms is not None), default=0.0)
            attack.probe_failures = sum(ms is None for ms in probes)
            peak = max([rss for _, _, rss in window] + [rss_bytes(pid)])
            attack.rss_growth_mb = max(0.0, (peak - baseline) / 2**20)
            results.append(attack)
            print(_row(attack), flush=True)
    document = {
        "started": started_at,
        "command": "python -m benchmarks.hostile " + " ".join(argv or sys.argv[1:]),
        "targets": {
            "answer_s": ANSWER_TARGET_S,
            "rss_growth_mb": RSS_TARGET_MB,
            "probe_ms": PROBE_TARGET_MS,
        },
        "server_env": SERVER_ENV,
        "load_average_at_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "attacks": [
            {**asdict(a), "statuses": dict(a.statuses), "passed": a.passed} for a in results
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hostile_results.json").write_text(json.dumps(document, indent=2) + "\n")
    _refresh_results_md(args.out)
    return 0 if all(a.passed for a in results) else 1


def _row(attack: Attack) -> str:
    verdict = "PASS" if attack.passed else "FAIL"
    answer = f"{attack.slowest_answer_s * 1000:7.0f} ms" if attack.timed_answers else "      - "
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(attack.statuses.items()))
    return (
        f"{verdict}  {attack.name:40} answer {answer}  rss +{attack.rss_growth_mb:6.1f} MB  "
        f"probe worst {attack.worst_probe_ms:5.0f} ms ({attack.probe_failures} failed)  "
        f"[{statuses}] {attack.note}"
    )


def _refresh_results_md(out: Path) -> None:
    from benchmarks.results_md import load_efficiency, render_markdown

    results = out / "results.json"
    if not results.exists():
        return
    gpu_file = out / "gpu_results.json"
    gpu = json.loads(gpu_file.read_text()) if gpu_file.exists() else None
    hostile = json.loads((out / "hostile_results.json").read_text())
    document: dict[str, Any] = json.loads(results.read_text())
    efficiency = load_efficiency(out)
    (out / "RESULTS.md").write_text(render_markdown(document, gpu, hostile, efficiency))


if __name__ == "__main__":
    sys.exit(main())
