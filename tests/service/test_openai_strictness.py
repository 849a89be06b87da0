"""Requests are as strict as OpenAI's API: unknown fields are a 400 naming them; every
field the official client can send is understood (honoured, refused by name, or
accepted, ignored and logged)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from openai.types import completion_create_params
from openai.types.chat import completion_create_params as chat_create_params

from service.openai_api.protocol import (
    IGNORED_FIELDS,
    ChatCompletionRequest,
    CompletionRequest,
)

CHAT = {"model": "simulated", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
COMPLETION = {"model": "simulated", "prompt": "hi", "max_tokens": 2}
# Sent as keyword arguments of create() the client puts them in the body; `stream` is
# an argument of its own there.
CLIENT_PARAMS = {
    CompletionRequest: set(completion_create_params.CompletionCreateParamsBase.__annotations__),
    ChatCompletionRequest: set(chat_create_params.CompletionCreateParamsBase.__annotations__),
}


@pytest.mark.parametrize("model", list(CLIENT_PARAMS), ids=lambda m: m.__name__)
def test_every_parameter_the_openai_client_sends_is_a_declared_field(model: type) -> None:
    assert CLIENT_PARAMS[model] - set(model.model_fields) == set()


@pytest.mark.parametrize(
    ("route", "body"), [("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT)]
)
def test_an_unknown_field_is_a_400_naming_it(client: TestClient, route: str, body: dict) -> None:
    response = client.post(route, json={**body, "temprature": 0.5})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == "Unrecognized request argument supplied: temprature"
    assert (error["param"], error["code"]) == ("temprature", "unknown_parameter")


def test_fields_that_change_no_output_are_accepted_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert "store" in IGNORED_FIELDS and "metadata" in IGNORED_FIELDS
    with caplog.at_level(logging.INFO, logger="service.openai_api.protocol"):
        response = client.post(
            "/v1/chat/completions", json={**CHAT, "store": False, "metadata": {"team": "a"}}
        )
    assert response.status_code == 200, response.text
    assert "ignoring OpenAI fields that change no output: metadata, store" in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("functions", [{"name": "f", "parameters": {}}]),
        ("function_call", "auto"),
        ("modalities", ["text", "audio"]),
        ("audio", {"voice": "alloy", "format": "wav"}),
    ],
)
def test_fields_that_would_change_the_output_are_refused_by_name(
    client: TestClient, field: str, value: object
) -> None:
    response = client.post("/v1/chat/completions", json={**CHAT, field: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_text_only_modalities_and_no_function_call_are_fine(client: TestClient) -> None:
    body = {**CHAT, "modalities": ["text"], "function_call": "none"}
    assert client.post("/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize(
    ("route", "body"), [("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT)]
)
def test_a_request_without_model_is_a_400_naming_it(
    client: TestClient, route: str, body: dict
) -> None:
    response = client.post(route, json={k: v for k, v in body.items() if k != "model"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "model" and "model: Field required" in error["message"]


def test_an_unknown_key_in_a_message_is_a_400_naming_it(client: TestClient) -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "hi", "contnet": "typo"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == "Unrecognized request argument supplied: messages[0].contnet"
    assert error["param"] == "messages"


def test_an_assistant_reply_sent_back_as_the_client_returned_it_is_accepted(
    client: TestClient,
) -> None:
    # What ChatCompletionMessage.model_dump() gives for an answer of this server.
    reply = {
        "role": "assistant",
        "content": "hello",
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": None,
    }
    messages = [{"role": "user", "content": "hi"}, reply, {"role": "user", "content": "again"}]
    response = client.post("/v1/chat/completions", json={**CHAT, "messages": messages})
    assert response.status_code == 200, response.text


def test_tool_calls_in_a_message_are_refused_by_name(client: TestClient) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    response = client.post("/v1/chat/completions", json={**CHAT, "messages": messages})
    assert response.status_code == 400, response.text
    assert "tool_calls is not supported" in response.json()["error"]["message"]
