"""The OpenAI wire format, in-process: shapes, streaming, usage and parameters."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engines.base import ChatMessage
from service.engines.simulated import SimulatedEngine, count_tokens
from service.request_scope import MAX_REQUEST_BODY_BYTES
from tests.servers import fast_settings, wait_until
from tests.service.sse import sse_json


def complete(client: TestClient, **body: object) -> dict:
    response = client.post(
        "/v1/completions", json={"model": "simulated", "prompt": "tell me a story", **body}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_completion_has_the_openai_shape_and_honest_usage(client: TestClient) -> None:
    body = complete(client, max_tokens=7)
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["model"] == "simulated"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "length"
    assert count_tokens(choice["text"]) == 7
    assert body["usage"] == {
        "prompt_tokens": count_tokens("tell me a story"),
        "completion_tokens": 7,
        "total_tokens": count_tokens("tell me a story") + 7,
    }


def test_request_id_header_is_echoed_and_names_the_completion(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        json={"model": "simulated", "prompt": "x", "max_tokens": 1},
        headers={"X-Request-Id": "abc-1"},
    )
    assert response.headers["x-request-id"] == "abc-1"
    assert response.json()["id"] == "cmpl-abc-1"


def test_unsafe_request_id_is_replaced(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        json={"model": "simulated", "prompt": "x", "max_tokens": 1},
        headers={"X-Request-Id": "a b\x01"},
    )
    assert response.headers["x-request-id"] != "a b\x01"
    assert len(response.headers["x-request-id"]) == 32


def test_max_tokens_defaults_to_the_setting(client: TestClient) -> None:
    default = client.app.state.runtime.settings.max_tokens  # type: ignore[attr-defined]
    assert complete(client)["usage"]["completion_tokens"] == default


def test_stop_string_ends_generation_and_is_not_returned(client: TestClient) -> None:
    full = complete(client, max_tokens=30, temperature=0)["choices"][0]["text"]
    stop_word = full.split()[5]
    cut = complete(client, max_tokens=30, temperature=0, stop=[" " + stop_word])
    (choice,) = cut["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["text"] == full[: full.index(" " + stop_word)]
    assert stop_word not in choice["text"].split()


def test_greedy_and_seeded_requests_repeat_and_unseeded_samples_differ(client: TestClient) -> None:
    def text(**sampling: object) -> str:
        return str(complete(client, max_tokens=12, **sampling)["choices"][0]["text"])

    assert text(temperature=0) == text(temperature=0)
    assert text(seed=7) == text(seed=7)
    assert text(seed=7) != text(seed=8)
    assert text() != text()


def test_n_gives_n_different_choices_with_usage_counting_the_prompt_once(
    client: TestClient,
) -> None:
    body = complete(client, n=3, max_tokens=10, seed=1)
    texts = [c["text"] for c in body["choices"]]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert body["usage"]["prompt_tokens"] == count_tokens("tell me a story")
    assert body["usage"]["completion_tokens"] == 30


def test_prompt_list_gives_a_choice_per_prompt_and_n(client: TestClient) -> None:
    body = complete(client, prompt=["one two", "three four five"], n=2, max_tokens=2)
    assert len(body["choices"]) == 4
    assert body["usage"]["prompt_tokens"] == count_tokens("one two") + count_tokens(
        "three four five"
    )
    assert body["usage"]["completion_tokens"] == 8


def test_echo_prepends_the_prompt(client: TestClient) -> None:
    body = complete(client, echo=True, max_tokens=2)
    assert body["choices"][0]["text"].startswith("tell me a story ")


def test_streamed_completion_matches_the_unstreamed_one(client: TestClient) -> None:
    whole = complete(client, max_tokens=9, seed=3)
    response = client.post(
        "/v1/completions",
        json={
            "model": "simulated",
            "prompt": "tell me a story",
            "max_tokens": 9,
            "seed": 3,
            "stream": True,
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_json(response.text)
    assert all(e["object"] == "text_completion" for e in events)
    assert "".join(e["choices"][0]["text"] for e in events) == whole["choices"][0]["text"]
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])
    assert all(e["usage"] is None for e in events)


def test_stream_options_include_usage_adds_a_final_usage_chunk(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        json={
            "model": "simulated",
            "prompt": "a b c",
            "max_tokens": 4,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse_json(response.text)
    assert events[-1]["choices"] == []
    assert events[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_chat_completion_shape(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "simulated",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
            ],
            "max_completion_tokens": 5,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert count_tokens(choice["message"]["content"]) == 5
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    # The prompt is the engine's chat template, not the bare message text.
    assert body["usage"]["prompt_tokens"] > count_tokens("be brief hello there")


def test_streamed_chat_sends_role_first_then_content_deltas(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "simulated",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse_json(response.text)
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert deltas[0]["role"] == "assistant"
    assert all("role" not in d for d in deltas[1:])
    assert count_tokens("".join(d.get("content", "") for d in deltas)) == 4
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert events[-1]["usage"]["completion_tokens"] == 4


def test_models_lists_the_served_model(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["simulated"]


def test_neutral_values_of_unsupported_parameters_are_accepted(client: TestClient) -> None:
    """Clients often send the defaults; only a value that changes sampling needs support."""
    body = {
        "model": "simulated",
        "prompt": "x",
        "max_tokens": 2,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "repetition_penalty": 1,
        "top_k": -1,
        "min_p": 0,
        "stop_token_ids": [],
    }
    assert client.post("/v1/completions", json=body).status_code == 200
    chat = {
        "model": "simulated",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 2,
        "response_format": {"type": "text"},
    }
    assert client.post("/v1/chat/completions", json=chat).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {"model": "simulated", "prompt": "x", "max_tokens": 0}, "max_tokens"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "temperature": 3}, "temperature"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "top_p": 0}, "top_p"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "n": 99}, "n"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "seed": -1}, "seed"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "seed": 2**64}, "seed"),
        ("/v1/completions", {"model": "simulated", "prompt": [1, 2, 3]}, "prompt"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "logprobs": 6}, "logprobs"),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "logprobs": 1, "echo": True},
            "logprobs",
        ),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "best_of": 3}, None),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "presence_penalty": 1},
            "presence_penalty",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "presence_penalty": 3},
            "presence_penalty",
        ),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "top_k": 5}, "top_k"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "min_p": 0.1}, "min_p"),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "repetition_penalty": 1.2},
            "repetition_penalty",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "stop_token_ids": [2]},
            "stop_token_ids",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_object"},
            },
            "response_format",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema"},
            },
            "response_format",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]},
            "stop",
        ),
        ("/v1/completions", {"model": "simulated"}, "prompt"),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "max_tokens": 100000},
            "max_tokens",
        ),
        ("/v1/chat/completions", {"model": "simulated", "messages": []}, "messages"),
        (
            "/v1/chat/completions",
            {"model": "simulated", "messages": [{"role": "robot", "content": "x"}]},
            "messages",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function"}],
            },
            "tools",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "top_logprobs": 2,
            },
            "top_logprobs",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "logprobs": True,
                "top_logprobs": 21,
            },
            "top_logprobs",
        ),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "stream": "yes"}, "stream"),
        ("/v1/completions", {"model": "simulated", "prompt": "x", "echo": 1}, "echo"),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": "x"}],
                "stream": True,
                "stream_options": {"include_usage": "true"},
            },
            "stream_options",
        ),
        ("/generate", {"model": "simulated", "prompt": "x", "stream": "no"}, "stream"),
        ("/generate", {"model": "simulated", "prompt": "x", "top_p": 2}, "top_p"),
        ("/generate", {"model": "simulated", "prompt": "x", "max_tokens": 100000}, "max_tokens"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    client: TestClient, path: str, body: dict, param: str | None
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert (param or "best_of") in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/completions",
            {"model": "simulated", "prompt": "x", "stop": ["a"] * 5},
            "stop: 5 stop strings is more than this server allows (MAX_STOP_STRINGS=4)",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": []},
            "prompt: List should have at least 1",
        ),
        (
            "/v1/completions",
            {"model": "simulated", "prompt": 5},
            "prompt: Input should be a valid string",
        ),
        (
            "/v1/chat/completions",
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": [{"type": "image_url"}]}],
            },
            "messages[0].content[0].type: Input should be 'text'",
        ),
    ],
)
def test_a_field_of_several_shapes_is_named_with_the_error_that_explains_it(
    client: TestClient, path: str, body: dict, message: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_invalid_json_is_a_400_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/v1/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_unknown_model_is_a_404(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"prompt": "x", "model": "gpt-9"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_prompt_longer_than_the_context_is_a_400_for_streams_too(client: TestClient) -> None:
    limit = client.app.state.runtime.info.max_context_tokens  # type: ignore[attr-defined]
    long_prompt = "word " * (limit + 1)
    for stream in (False, True):
        response = client.post(
            "/v1/completions",
            json={"model": "simulated", "prompt": long_prompt, "max_tokens": 1, "stream": stream},
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "context_length_exceeded"
        assert error["param"] == "prompt"
    metrics = client.get("/metrics").text
    assert 'trtllm_requests_rejected_total{reason="prompt_too_long"} 2.0' in metrics


def test_unknown_route_and_wrong_method_use_the_openai_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Not Found"
    wrong = client.get("/v1/completions")
    assert wrong.status_code == 405
    assert "error" in wrong.json()


def test_request_body_over_the_limit_is_a_413_before_it_is_read(client: TestClient) -> None:
    response = client.post(
        "/v1/completions",
        content=b"{}",
        headers={
            "content-type": "application/json",
            "content-length": str(MAX_REQUEST_BODY_BYTES + 1),
        },
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_chat_template_is_rendered_off_the_event_loop() -> None:
    rendered_on: list[threading.Thread] = []

    class RecordingEngine(SimulatedEngine):
        def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
            rendered_on.append(threading.current_thread())
            return super().apply_chat_template(messages)

    app = create_app(fast_settings(), engine=RecordingEngine())
    with TestClient(app) as chat_client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        body = {"model": "simulated", "messages": [{"role": "user", "content": "hi"}]}
        response = chat_client.post("/v1/chat/completions", json={**body, "max_tokens": 2})
        assert response.status_code == 200, response.text
        loop_thread = chat_client.portal.call(threading.current_thread)  # type: ignore[union-attr]
    assert rendered_on
    assert rendered_on[0] is not loop_thread


def test_models_lists_the_other_models_behind_the_gateway() -> None:
    """One server answers the gateway's /v1/models: its own model, then the stack's others."""
    app = create_app(fast_settings(listed_model_names="llama-3.1-8b, simulated ,qwen"))
    with TestClient(app) as test_client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        body = test_client.get("/v1/models").json()
    assert [m["id"] for m in body["data"]] == ["simulated", "llama-3.1-8b", "qwen"]
