"""API keys: required on the generation APIs when set; probes and metrics stay open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from service.auth import key_matches
from tests.service.servers import ThreadServer, fast_settings, thread_server, wait_until

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
        json={"prompt": "x", "max_tokens": 1},
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
