"""The connection layer under careless and hostile clients: a real uvicorn on 127.0.0.1,
spoken to over raw sockets where an HTTP client library would be too polite."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from service.request_scope import MAX_ARRIVING_BODY_BYTES, MAX_REQUEST_BODY_BYTES
from service.transport import MAX_HEAD_BYTES
from tests.servers import (
    ThreadServer,
    fast_settings,
    process_server,
    thread_server,
    wait_until,
)

# Long enough for a loaded test machine to answer, short enough to keep tests quick.
SHORT = 0.5
READ_TIMEOUT = 10.0


def address(live: ThreadServer) -> tuple[str, int]:
    host, port = live.base_url.removeprefix("http://").split(":")
    return host, int(port)


@contextmanager
def raw(live: ThreadServer, receive_buffer: int | None = None) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(READ_TIMEOUT)
    sock.connect(address(live))
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def post(path: str, body: dict[str, object], extra_headers: str = "") -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    return head.encode() + payload


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_pipelined_requests_wait_in_the_socket_not_in_the_server() -> None:
    """A client pipelining requests as fast as it can (reading the answers) gets
    ahead of the server only by what the socket buffers hold: the server parses the
    next request when it has answered the last one, instead of queueing all it read."""
    request = b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n"
    burst = request * 10_000

    def discard_answers(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(1 << 20):
                pass

    with process_server(["--engine", "simulated"]) as server:
        before = rss_bytes(server.process.pid)
        host, port = server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=READ_TIMEOUT) as sock:
            reader = threading.Thread(target=discard_answers, args=(sock,), daemon=True)
            reader.start()
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                sock.send(burst)
            grown = rss_bytes(server.process.pid) - before
            sock.shutdown(socket.SHUT_RDWR)
            reader.join(READ_TIMEOUT)
    assert grown < 50 * 2**20


# Just past the limit: bytes the server never reads would turn its close into a
# reset that can discard the answer before the client reads it.
JUST_PAST_THE_LIMIT = MAX_HEAD_BYTES + 100


def test_oversized_request_head_is_refused_with_431(live: ThreadServer) -> None:
    with raw(live) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: ")
        sock.sendall(b"a" * JUST_PAST_THE_LIMIT)
        assert status_of(read_until_closed(sock)) == 431


def test_a_long_url_is_refused_with_431(live: ThreadServer) -> None:
    with raw(live) as sock:
        sock.sendall(b"GET /" + b"a" * JUST_PAST_THE_LIMIT)
        assert status_of(read_until_closed(sock)) == 431


def test_headers_that_never_finish_get_408_and_a_closed_connection() -> None:
    with thread_server(fast_settings(header_timeout_seconds=SHORT)) as live, raw(live) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
        response = read_until_closed(sock)
        assert status_of(response) == 408
        assert time.monotonic() - started < READ_TIMEOUT


def test_trickled_headers_do_not_reset_the_deadline() -> None:
    with thread_server(fast_settings(header_timeout_seconds=SHORT)) as live, raw(live) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        closed = False
        for _ in range(40):
            time.sleep(SHORT / 4)
            try:
                sock.sendall(b"X: y\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed or status_of(read_until_closed(sock)) == 408


def test_a_connection_that_sends_nothing_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.server.KEEP_ALIVE_SECONDS", SHORT)
    with thread_server(fast_settings()) as live, raw(live) as sock:
        assert read_until_closed(sock) == b""


def test_a_stalled_body_is_dropped_and_the_request_never_admitted() -> None:
    with thread_server(fast_settings(body_timeout_seconds=SHORT)) as live, raw(live) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"model": "simulated", "prompt": '
        )
        assert read_until_closed(sock) == b""
        assert live.runtime.admission.in_flight == 0


def test_at_the_cap_a_new_connection_closes_an_idle_one() -> None:
    """Idle sockets (a flood of them, or a client's spare keep-alive ones) cannot lock
    out a probe: at the cap the newcomer takes an idle connection's place."""
    with thread_server(fast_settings(max_connections=4)) as live, ExitStack() as held:
        idle = [held.enter_context(raw(live)) for _ in range(4)]
        assert wait_until(lambda: len(live.server.server_state.connections) == 4)
        with raw(live) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            assert status_of(read_until_closed(sock)) == 200
        readable, _, _ = select.select(idle, [], [], READ_TIMEOUT)
        assert len(readable) == 1
        assert readable[0].recv(1) == b""  # closed by the server, without a word


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503() -> None:
    settings = fast_settings(max_connections=2, simulated_itl_ms=50)
    with thread_server(settings) as live, ExitStack() as held:
        for _ in range(2):
            sock = held.enter_context(raw(live))
            sock.sendall(
                post(
                    "/generate",
                    {"model": "simulated", "prompt": "x", "max_tokens": 200, "stream": True},
                )
            )
        assert wait_until(lambda: live.runtime.admission.running == 2)
        with raw(live) as refused:
            response = read_until_closed(refused)
        assert status_of(response) == 503
        assert b"too many connections" in response


def test_a_client_that_stops_reading_its_stream_loses_its_slot() -> None:
    settings = fast_settings(send_timeout_seconds=SHORT)
    with thread_server(settings) as live, raw(live, receive_buffer=4096) as sock:
        # Tens of megabytes of events: far more than socket buffers hold.
        body = {
            "model": "simulated",
            "prompt": ["x"] * 16,
            "n": 4,
            "max_tokens": 4000,
            "stream": True,
        }
        sock.sendall(post("/v1/completions", body))
        assert wait_until(lambda: live.runtime.admission.running == 64)
        # Never read: once the socket buffers fill, the server's writes stall.
        assert wait_until(lambda: live.runtime.admission.in_flight == 0, timeout=60)


def test_h2c_upgrade_request_is_answered_over_http_1_1_with_its_body(live: ThreadServer) -> None:
    """What `curl --http2 http://...` sends: the body must not be lost."""
    upgrade = "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
    request = post(
        "/v1/completions", {"model": "simulated", "prompt": "x", "max_tokens": 3}, upgrade
    )
    request = request.replace(b"Connection: close", b"Connection: Upgrade, HTTP2-Settings")
    with raw(live) as sock:
        sock.sendall(request)
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(65536)
        head, _, body = response.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += sock.recv(65536)
    assert status_of(head) == 200, body
    assert json.loads(body)["usage"]["completion_tokens"] == 3


def test_stalled_uploads_hold_a_bounded_amount_and_the_next_is_refused(
    live: ThreadServer,
) -> None:
    announce = (
        b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n{" % MAX_REQUEST_BODY_BYTES
    )
    fits = MAX_ARRIVING_BODY_BYTES // MAX_REQUEST_BODY_BYTES
    with ExitStack() as held:
        for _ in range(fits):
            held.enter_context(raw(live)).sendall(announce)
        time.sleep(SHORT)  # the stalled ones reach the server first
        with raw(live) as sock:
            sock.sendall(announce)
            response = sock.recv(65536)
        assert status_of(response) == 429
        assert b"too_many_uploads" in response
    # Once those clients leave, their share is free again.
    assert wait_until(
        lambda: (
            httpx.post(
                f"{live.base_url}/v1/completions",
                json={"model": "simulated", "prompt": "x", "max_tokens": 1},
            ).status_code
            == 200
        )
    )
