"""`python -m service` as a real process: SIGTERM drain, config errors, load failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from service.settings import CONFIG_ERROR_EXIT_STATUS
from tests.servers import fast_settings, process_server, thread_server
from tests.service.sse import sse_json
from tests.tools import REPO_ROOT


def test_sigterm_drains_in_flight_streams_then_exits_0() -> None:
    flags = ["--simulated-ttft-ms", "50", "--simulated-itl-ms", "40", "--log-format", "json"]
    with process_server([*flags, "--drain-timeout-seconds", "20"]) as server:
        url = server.base_url
        first_event = threading.Event()
        result: dict[str, object] = {}

        def stream_through_the_drain() -> None:
            body = {"model": "simulated", "prompt": "x", "max_tokens": 40, "stream": True}
            headers = {"X-Request-Id": "drain-stream"}
            with httpx.stream(
                "POST", f"{url}/generate", json=body, headers=headers, timeout=30
            ) as response:
                lines = []
                for line in response.iter_lines():
                    lines.append(line)
                    first_event.set()
                result["body"] = "\n".join(lines)

        streamer = threading.Thread(target=stream_through_the_drain)
        streamer.start()
        assert first_event.wait(10)
        server.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()

        ready = httpx.get(f"{url}/health/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert time.monotonic() - sent < 1.0
        assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
        refused = httpx.post(
            f"{url}/v1/completions", json={"model": "simulated", "prompt": "x"}, timeout=5
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "draining"

        streamer.join(timeout=30)
        events = sse_json(str(result["body"]).replace("\n\n", "\n").replace("\n", "\n\n"))
        assert events[-1]["finish_reason"] == "length"
        assert events[-1]["tokens_used"] == 40
        assert server.process.wait(timeout=15) == 0
        logs = [json.loads(line) for line in server.log.read_text().splitlines()]
    messages = [entry["message"] for entry in logs]
    assert "drained" in messages
    assert "engine shut down" in messages
    assert messages.index("drained") < messages.index("engine shut down")
    # Every line was JSON; the access log names the request by its id.
    (access,) = [e for e in logs if e["logger"] == "service.access" and e["path"] == "/generate"]
    assert access["request_id"] == "drain-stream"
    assert access["status"] == 200
    assert access["duration_ms"] > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_streams_cleanly_and_exits_0(sig: signal.Signals) -> None:
    """The second signal cuts the drain short the way its timeout does: every stream
    gets its error event and [DONE], and nothing is torn down mid-write."""
    flags = ["--simulated-itl-ms", "100", "--drain-timeout-seconds", "60"]
    with process_server(flags) as server:
        first_event = threading.Event()
        bodies: list[str] = []

        def stream() -> None:
            body = {"model": "simulated", "prompt": "x", "max_tokens": 500, "stream": True}
            url = f"{server.base_url}/v1/completions"
            with httpx.stream("POST", url, json=body, timeout=30) as response:
                lines = []
                for line in response.iter_lines():
                    lines.append(line)
                    first_event.set()
                bodies.append("\n".join(line for line in lines if line))

        streamers = [threading.Thread(target=stream) for _ in range(3)]
        for streamer in streamers:
            streamer.start()
        assert first_event.wait(10)
        time.sleep(0.3)  # all three streaming
        server.process.send_signal(sig)
        time.sleep(0.3)
        server.process.send_signal(sig)
        for streamer in streamers:
            streamer.join(timeout=15)
        assert server.process.wait(timeout=15) == 0
        output = server.log.read_text()
    assert len(bodies) == 3
    for body in bodies:
        last_lines = body.splitlines()[-2:]
        assert last_lines[-1] == "data: [DONE]"
        assert json.loads(last_lines[0].removeprefix("data: "))["error"]["code"] == "draining"
    assert "Traceback" not in output


def test_drain_timeout_ends_long_streams_with_an_error_event() -> None:
    settings = fast_settings(simulated_itl_ms=100, drain_timeout_seconds=0.3)
    with thread_server(settings) as live:
        body = {"model": "simulated", "prompt": "x", "max_tokens": 500, "stream": True}
        headers = {"X-Request-Id": "too-long"}
        url = f"{live.base_url}/generate"
        with httpx.stream("POST", url, json=body, headers=headers, timeout=10) as response:
            lines = response.iter_lines()
            next(lines)
            started = time.monotonic()
            live.server.request_drain()
            remaining = [line for line in lines if line]
        assert time.monotonic() - started < 3
        assert remaining[-1] == "data: [DONE]"
        assert json.loads(remaining[-2].removeprefix("data: "))["error"]["code"] == "draining"
        assert "too-long" in live.engine.aborted_request_ids  # type: ignore[attr-defined]
        assert live.runtime.admission.in_flight == 0


def test_drain_timeout_answers_unfinished_plain_requests_with_503() -> None:
    settings = fast_settings(simulated_itl_ms=100, drain_timeout_seconds=0.3)
    with thread_server(settings) as live:
        url = f"{live.base_url}/v1/completions"
        threading.Timer(0.2, live.server.request_drain).start()
        response = httpx.post(
            url, json={"model": "simulated", "prompt": "x", "max_tokens": 500}, timeout=10
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "draining"
        assert live.runtime.admission.in_flight == 0


def run_service(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--port", "eighty"], {}, "PORT (--port)"),
        ([], {"MAX_QUEUED_REQUESTS": "-1"}, "MAX_QUEUED_REQUESTS"),
        (["--engine", "vllm"], {}, "ENGINE"),
        (["--engine", "transformers"], {}, "MODEL_PATH"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_invalid_setting_exits_2_with_one_line_naming_it(
    args: list[str], env: dict[str, str], named: str
) -> None:
    finished = run_service(*args, env={**os.environ, **env})
    assert finished.returncode == CONFIG_ERROR_EXIT_STATUS
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert named in lines[0]
    assert "Traceback" not in finished.stderr


def test_model_that_cannot_load_exits_1_after_listening(tmp_path: object) -> None:
    with process_server(
        ["--engine", "transformers", "--model", "/nonexistent/model"], wait_ready=False
    ) as server:
        assert server.process.wait(timeout=60) == 1
        output = server.log.read_text()
    assert "engine failed to load" in output
