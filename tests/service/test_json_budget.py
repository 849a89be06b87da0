"""Bodies with more JSON values than any request needs are refused before parsing;
large bodies of text (commas, quotes and brackets inside strings) are not."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from service.errors import APIError
from service.json_budget import MAX_JSON_VALUES, check_json_budget

JSON = {"content-type": "application/json"}


def _items(item: bytes, count: int) -> bytes:
    return b",".join([item] * count)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            b'{"model": "simulated", "messages": [%s]}' % _items(b"{}", 1_000_000),
        ),
        ("/v1/completions", b'{"model": "simulated", "prompt": [%s]}' % _items(b'""', 1_000_000)),
        (
            "/v1/completions",
            b'{"model": "simulated", "prompt": "x", "unknown": [%s]}' % _items(b"0", 1_000_000),
        ),
        (
            "/v1/completions",
            b'{"model": "simulated", "prompt": "x", "logit_bias": {%s}}'
            % b",".join(b'"%d": 1' % i for i in range(MAX_JSON_VALUES + 1)),
        ),
    ],
    ids=["messages", "prompts", "unknown-field", "logit_bias"],
)
def test_too_many_values_is_a_413_before_parsing(
    client: TestClient, path: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert str(MAX_JSON_VALUES) in error["message"]


def test_text_full_of_separators_is_not_counted_as_values(client: TestClient) -> None:
    text = '1,2,[3],{"a": "b"}, \\ ' * (MAX_JSON_VALUES // 2)
    body = json.dumps({"model": "simulated", "prompt": text, "max_tokens": 1}).encode()
    assert body.count(b",") > MAX_JSON_VALUES
    check_json_budget(body)
    response = client.post("/v1/completions", content=body, headers=JSON)
    assert response.status_code != 413, response.text


def test_many_tiny_strings_are_refused_on_their_quotes() -> None:
    with pytest.raises(APIError) as refused:
        check_json_budget(b"[%s]" % _items(b'""', MAX_JSON_VALUES + 1))
    assert refused.value.status == 413


def test_a_request_at_the_limits_passes() -> None:
    check_json_budget(b"[%s]" % _items(b"0", MAX_JSON_VALUES - 1))


def test_deep_nesting_is_refused_by_the_parser_as_invalid_json(client: TestClient) -> None:
    body = b'{"model": "simulated", "prompt": "x", "deep": %s}' % (b"[" * 200_000)
    response = client.post("/generate", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("request body is not valid JSON")
