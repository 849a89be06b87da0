"""API keys: required on the generation APIs when set; probes and metrics stay open."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import openai
import pytest

from service.auth import key_matches
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until

KEYS = "first-key-0123,second-key-4567"


@pytest.fixture(scope="module")
def secured() -> Iterator[ThreadServer]:
    with thread_server(fast_settings(api_keys=KEYS)) as server:
        yield server


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/completions"), ("post", "/v1/chat/completions"), ("get", "/v1/models"),
     ("post", "/generate")],
)  # fmt: skip
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic Zmlyc3Qta2V5"])
def test_missing_or_wrong_key_is_401(
    secured: ThreadServer, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, secured.base_url + path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", KEYS.split(","))
def test_any_configured_key_is_accepted(secured: ThreadServer, key: str) -> None:
    response = httpx.post(
        f"{secured.base_url}/v1/completions",
        json={"model": "simulated", "prompt": "x", "max_tokens": 1},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200


def test_openai_client_with_the_key(secured: ThreadServer) -> None:
    client = openai.OpenAI(
        base_url=f"{secured.base_url}/v1", api_key="second-key-4567", max_retries=0
    )
    assert client.models.list().data[0].id == "simulated"
    wrong = openai.OpenAI(base_url=f"{secured.base_url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/metrics"])
def test_probes_and_metrics_need_no_key(secured: ThreadServer, path: str) -> None:
    assert wait_until(lambda: httpx.get(secured.base_url + path).status_code == 200)


def test_key_comparison() -> None:
    keys = ("abc", "defg")
    assert key_matches("defg", keys)
    assert not key_matches("def", keys)
    assert not key_matches("", keys)
    assert not key_matches("abc ", keys)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_and_schema_need_the_key_too(secured: ThreadServer, path: str) -> None:
    assert httpx.get(secured.base_url + path).status_code == 401
    key = {"Authorization": "Bearer first-key-0123"}
    assert httpx.get(secured.base_url + path, headers=key).status_code == 200


def test_key_is_checked_before_the_body_is_read(secured: ThreadServer) -> None:
    """A client without a key that announces a big body and sends none is refused at
    once: the server never waits for (or buffers) an unauthenticated upload."""
    host, port = secured.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 16000000\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 401 ")
