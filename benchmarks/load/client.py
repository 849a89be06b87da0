"""Send one request to the server and time it.

A request counts as a success only when the status is 2xx, the body parses, and a
stream ends cleanly: a 429, a 5xx, any non-2xx, a timeout, a dropped connection or a
stream that carries an error event are all failures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

Mode = Literal["completions", "chat", "generate"]
MODES: tuple[Mode, ...] = ("completions", "chat", "generate")

PATHS: Mapping[Mode, str] = {
    "completions": "/v1/completions",
    "chat": "/v1/chat/completions",
    "generate": "/generate",
}


@dataclass
class RequestResult:
    """What one request did, in seconds since the request was sent."""

    ok: bool
    status: int | None
    e2e_s: float
    ttft_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    output_tokens: int = 0
    timed_out: bool = False
    error: str | None = None
    retry_after: str | None = None


def build_body(
    mode: Mode, prompt: str, max_tokens: int, stream: bool, model: str | None
) -> dict[str, Any]:
    """The JSON body for `mode`; usage on the last chunk gives exact token counts."""
    if mode == "generate":
        return {"prompt": prompt, "max_tokens": max_tokens, "stream": stream}
    body: dict[str, Any] = {"max_tokens": max_tokens, "stream": stream}
    if model is not None:
        body["model"] = model
    if mode == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def chunk_text(event: Mapping[str, Any]) -> str:
    """The generated text one streamed event carries, whatever the route's format."""
    choices = event.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if not isinstance(choice, Mapping):
            return ""
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            return str(delta.get("content") or "")
        return str(choice.get("text") or "")
    for key in ("text", "token", "delta"):
        value = event.get(key)
        if isinstance(value, str):
            return value
    return ""


def usage_tokens(body: Mapping[str, Any]) -> int | None:
    """Completion tokens the server reports (OpenAI `usage` or /generate's `tokens_used`)."""
    usage = body.get("usage")
    if isinstance(usage, Mapping) and isinstance(usage.get("completion_tokens"), int):
        return int(usage["completion_tokens"])
    if isinstance(body.get("tokens_used"), int):
        return int(body["tokens_used"])
    return None


def error_message(body: Any) -> str | None:
    """The error an event or body carries, if any (OpenAI `{"error": {...}}` shape)."""
    if not isinstance(body, Mapping) or "error" not in body:
        return None
    err = body["error"]
    if isinstance(err, Mapping):
        return str(err.get("message") or err)
    return str(err)


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    *,
    stream: bool,
    timeout_s: float,
    api_key: str | None = None,
    require_done: bool = True,
) -> RequestResult:
    """POST `body` to `url` and time it; never raises except on cancellation.

    `require_done`: a stream must end with `data: [DONE]` (OpenAI routes); without
    it a stream that stops early after some text still counts as complete.
    """
    start = time.perf_counter()
    seen: dict[str, Any] = {}
    try:
        return await asyncio.wait_for(
            _post(session, url, body, stream, api_key, require_done, start, seen), timeout_s
        )
    except asyncio.TimeoutError:
        return RequestResult(
            ok=False,
            status=seen.get("status"),
            e2e_s=time.perf_counter() - start,
            timed_out=True,
            error=f"no complete response within {timeout_s:g} s",
        )
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return RequestResult(
            ok=False,
            status=seen.get("status"),
            e2e_s=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
        )


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    stream: bool,
    api_key: str | None,
    require_done: bool,
    start: float,
    seen: dict[str, Any],
) -> RequestResult:
    async with session.post(url, json=body, headers=auth_headers(api_key)) as resp:
        seen["status"] = resp.status
        retry_after = resp.headers.get("Retry-After")
        if not 200 <= resp.status < 300:
            text = await resp.text()
            return RequestResult(
                ok=False,
                status=resp.status,
                e2e_s=time.perf_counter() - start,
                error=_short(text),
                retry_after=retry_after,
            )
        if stream:
            result = await _read_stream(resp, start, require_done)
        else:
            result = await _read_json(resp, start)
        result.status = resp.status
        return result


async def _read_json(resp: aiohttp.ClientResponse, start: float) -> RequestResult:
    body = await resp.json(content_type=None)
    e2e = time.perf_counter() - start
    err = error_message(body)
    if err is not None or not isinstance(body, Mapping):
        return RequestResult(ok=False, status=None, e2e_s=e2e, error=err or "body is not an object")
    return RequestResult(ok=True, status=None, e2e_s=e2e, output_tokens=usage_tokens(body) or 0)


async def _read_stream(
    resp: aiohttp.ClientResponse, start: float, require_done: bool
) -> RequestResult:
    """Parse server-sent events: time the first token and the gaps between tokens."""
    ttft: float | None = None
    last: float | None = None
    gaps: list[float] = []
    content_events = 0
    reported: int | None = None
    done = False
    event_name = ""
    async for raw in resp.content:
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            event_name = ""
            continue
        if line.startswith("event:"):
            event_name = line[6:].strip()
            continue
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        now = time.perf_counter()
        event = json.loads(data)
        err = error_message(event)
        if err is not None or event_name == "error":
            return RequestResult(
                ok=False,
                status=None,
                e2e_s=now - start,
                ttft_s=ttft,
                itl_s=gaps,
                output_tokens=reported or content_events,
                error=f"error event in stream: {err or _short(data)}",
            )
        if isinstance(event, Mapping):
            reported = usage_tokens(event) or reported
            if chunk_text(event):
                content_events += 1
                if ttft is None:
                    ttft = now - start
                elif last is not None:
                    gaps.append(now - last)
                last = now
    complete = done or (not require_done and content_events > 0)
    return RequestResult(
        ok=complete,
        status=None,
        e2e_s=time.perf_counter() - start,
        ttft_s=ttft,
        itl_s=gaps,
        output_tokens=reported if reported is not None else content_events,
        error=None if complete else "stream ended before data: [DONE]",
    )


async def resolve_model(
    session: aiohttp.ClientSession, base_url: str, api_key: str | None, timeout_s: float
) -> str | None:
    """The first model /v1/models lists, or None if the server has no such route."""
    url = f"{base_url}/v1/models"
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with session.get(url, headers=auth_headers(api_key), timeout=timeout) as resp:
            if resp.status != 200:
                return None
            body = await resp.json(content_type=None)
    except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return None
    data = body.get("data") if isinstance(body, Mapping) else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return str(data[0].get("id"))
    return None


def _short(text: str, limit: int = 200) -> str:
    text = text.strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
