"""Per-request limits are settings, refused with a 400 naming the field and the setting;
admission counts sequences, so fan-out queues and shows in the waiting gauge."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from service.metric_names import REQUESTS_WAITING
from tests.servers import fast_settings, ready_client, thread_server, wait_until


@pytest.fixture
def strict() -> Iterator[TestClient]:
    settings = fast_settings(
        max_prompts_per_request=3,
        max_messages_per_request=4,
        max_sequences_per_request=6,
        max_stop_strings=2,
        max_logit_bias_entries=2,
        max_echoed_chars=9,  # "simulated" fits
    )
    with ready_client(settings) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "body", "param", "setting"),
    [
        (
            "/v1/completions",
            {"model": "simulated", "prompt": ["a"] * 4},
            "prompt",
            "MAX_PROMPTS_PER_REQUEST=3",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": ["a"] * 2, "n": 4},
            "n",
            "MAX_SEQUENCES_PER_REQUEST=6",
        ),
        (
            "/v1/chat/completions",
            {"model": "simulated", "messages": [{"role": "user", "content": "hi"}] * 5},
            "messages",
            "MAX_MESSAGES_PER_REQUEST=4",
        ),
        (
            "/v1/chat/completions",
            {"model": "simulated", "messages": [{"role": "user", "content": "hi"}], "n": 7},
            "n",
            "MAX_SEQUENCES_PER_REQUEST=6",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "a", "stop": ["x", "y", "z"]},
            "stop",
            "MAX_STOP_STRINGS=2",
        ),
        (
            # Over the size limit before the engine is asked whether it honours one.
            "/v1/completions",
            {"model": "simulated", "prompt": "a", "logit_bias": {"1": 1, "2": 1, "3": 1}},
            "logit_bias",
            "MAX_LOGIT_BIAS_ENTRIES=2",
        ),
        (
            "/v1/completions",
            {"model": "simulated-model", "prompt": "a"},
            "model",
            "MAX_ECHOED_CHARS=9",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "hi"}],
                "user": "u" * 10,
            },
            "user",
            "MAX_ECHOED_CHARS=9",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "hi", "name": "n" * 10}],
            },
            "messages",
            "MAX_ECHOED_CHARS=9",
        ),
    ],
)
def test_over_a_limit_is_a_400_naming_the_field_and_the_setting(
    strict: TestClient, path: str, body: dict[str, object], param: str, setting: str
) -> None:
    response = strict.post(path, json={**body, "max_tokens": 1})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"] == "limit_exceeded"
    assert setting in error["message"]


def test_at_the_limits_requests_are_served(strict: TestClient) -> None:
    response = strict.post(
        "/v1/completions",
        json={
            "model": "simulated",
            "prompt": ["a"] * 3,
            "n": 2,
            "max_tokens": 1,
            "stop": ["x", "y"],
            "user": "u" * 9,
        },
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 6


def test_a_logit_bias_within_the_limit_is_refused_by_an_engine_that_cannot_honour_it(
    strict: TestClient,
) -> None:
    body = {"model": "simulated", "prompt": "a", "logit_bias": {"1": 5}, "max_tokens": 1}
    response = strict.post("/v1/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "logit_bias"
    assert "not supported by this engine" in error["message"]


def test_a_huge_model_name_is_refused_not_echoed(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"prompt": "x", "model": "m" * 5_000_000})
    assert response.status_code == 400
    assert len(response.content) < 1000
    assert response.json()["error"]["param"] == "model"
    assert "MAX_ECHOED_CHARS=256" in response.json()["error"]["message"]


def test_fan_out_queues_by_its_sequences_and_shows_as_waiting() -> None:
    settings = fast_settings(max_concurrent_requests=8, max_queued_requests=8, simulated_itl_ms=20)
    with thread_server(settings) as live, ThreadPoolExecutor(2) as pool:
        url = f"{live.base_url}/v1/completions"
        wide = {"model": "simulated", "prompt": ["a"] * 4, "n": 2, "max_tokens": 50}
        first = pool.submit(httpx.post, url, json=wide, timeout=30)
        assert wait_until(lambda: live.runtime.admission.running == 8)
        second = pool.submit(httpx.post, url, json={**wide, "n": 1}, timeout=30)
        assert wait_until(lambda: live.runtime.admission.waiting == 4)
        scraped = httpx.get(f"{live.base_url}/metrics").text
        assert f"{REQUESTS_WAITING} 4.0" in scraped
        # A third fan-out would overflow the queue of 8 sequences: refused at once.
        refused = httpx.post(url, json={**wide, "prompt": ["a"] * 3}, timeout=30)
        assert refused.status_code == 429
        assert first.result().status_code == 200
        assert second.result().status_code == 200
        assert wait_until(lambda: live.runtime.admission.in_flight == 0)


@pytest.mark.parametrize(
    ("logit_bias", "message"),
    [
        ({"abc": 1}, "logit_bias.abc: Input should be a valid integer"),
        ({"-1": 1}, "logit_bias.-1: Input should be greater than or equal to 0"),
        ({"1": 101}, "logit_bias.1: Input should be less than or equal to 100"),
    ],
)
def test_logit_bias_takes_token_ids_and_openais_range(
    client: TestClient, logit_bias: dict[str, float], message: str
) -> None:
    body = {"model": "simulated", "prompt": "x", "logit_bias": logit_bias}
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "logit_bias"
    assert response.json()["error"]["message"].startswith(message)
