"""Text that no engine can encode (a lone surrogate escaped in JSON, or bytes that are
not UTF-8) is a 400 naming the field, on every API, never a 500 from inside an engine."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

JSON = {"content-type": "application/json"}

LONE_SURROGATE = rb"\ud800"
NOT_UTF8 = b"\xff"


def _cases(bad: bytes) -> list[tuple[str, bytes, str]]:
    return [
        ("/v1/completions", b'{"model": "simulated", "prompt": "a%sb"}' % bad, "prompt"),
        ("/v1/completions", b'{"model": "simulated", "prompt": ["ok", "%s"]}' % bad, "prompt[1]"),
        (
            "/v1/completions",
            b'{"model": "simulated", "prompt": "ok", "stop": ["%s"]}' % bad,
            "stop[0]",
        ),
        (
            "/v1/completions",
            b'{"model": "simulated", "prompt": "ok", "model": "%s"}' % bad,
            "model",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "simulated", "messages": [{"role": "user", "content": "%s"}]}' % bad,
            "messages[0].content",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "simulated", '
            b'"messages": [{"role": "user", "content": [{"type": "text", "text": "%s"}]}]}' % bad,
            "messages[0].content[0].text",
        ),
        ("/generate", b'{"model": "simulated", "prompt": "%s"}' % bad, "prompt"),
    ]


@pytest.mark.parametrize(("path", "body", "field"), _cases(LONE_SURROGATE) + _cases(NOT_UTF8))
def test_invalid_text_is_a_400_naming_the_field(
    client: TestClient, path: str, body: bytes, field: str
) -> None:
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith(f"{field}: invalid Unicode"), message


def test_a_surrogate_pair_is_valid_text(client: TestClient) -> None:
    body = rb'{"model": "simulated", "prompt": "smile \ud83d\ude00", "max_tokens": 2}'
    response = client.post("/v1/completions", content=body, headers=JSON)
    assert response.status_code == 200, response.text


def test_bytes_that_are_not_utf8_outside_any_text_field_are_still_a_400(
    client: TestClient,
) -> None:
    body = b'{"model": "simulated", "prompt": "ok", "max_tokens": 2, "\xff": 1}'
    response = client.post("/v1/completions", content=body, headers=JSON)
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]
