"""A misbehaving OpenAI-style server for checking how the load generator counts.

Each behaviour lives under its own prefix, so `http://host:port/<behaviour>` is a
base URL the load generator can target: it appends /v1/completions and so on. The
live simulated server covers the well-behaved path; this covers what it never does
on purpose (a 500, a stream that breaks, a 429 without Retry-After).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

COMPLETION = {
    "id": "cmpl-1",
    "object": "text_completion",
    "choices": [{"index": 0, "text": " a b c", "finish_reason": "length"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
}


def _event(text: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'text': text}]})}\n\n".encode()


async def _stream(request: web.Request, tokens: int, tail: bytes) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i in range(tokens):
        await resp.write(_event(f" t{i}"))
        await asyncio.sleep(0.002)
    await resp.write(tail)
    await resp.write_eof()
    return resp


async def ok(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("stream"):
        usage = {"choices": [], "usage": {"completion_tokens": 4}}
        return await _stream(request, 4, f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
    return web.json_response(COMPLETION)


async def reject(request: web.Request) -> web.Response:
    await request.read()
    error = {"error": {"message": "queue full", "type": "rate_limit", "code": 429}}
    return web.json_response(error, status=429, headers={"Retry-After": "1"})


async def reject_bare(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"error": {"message": "queue full"}}, status=429)


async def fail(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"error": {"message": "boom"}}, status=500)


async def stream_error(request: web.Request) -> web.StreamResponse:
    await request.read()
    error = {"error": {"message": "engine failed", "type": "server_error", "code": 500}}
    return await _stream(request, 2, f"data: {json.dumps(error)}\n\n".encode())


async def stream_cut(request: web.Request) -> web.StreamResponse:
    await request.read()
    return await _stream(request, 2, b"")  # ends without data: [DONE]


# Requests the slow route has received: tests wait on it before interrupting a run.
SLOW_HITS: list[float] = []


async def slow(request: web.Request) -> web.Response:
    await request.read()
    SLOW_HITS.append(asyncio.get_running_loop().time())
    await asyncio.sleep(float(request.query.get("s", "0.3")))
    return web.json_response(COMPLETION)


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "stub-model"}]})


ROUTES = {
    "ok": ok,
    "reject": reject,
    "reject-bare": reject_bare,
    "fail": fail,
    "stream-error": stream_error,
    "stream-cut": stream_cut,
    "slow": slow,
}


def create_app() -> web.Application:
    app = web.Application()
    for prefix, handler in ROUTES.items():
        app.router.add_post(f"/{prefix}/v1/completions", handler)
        app.router.add_get(f"/{prefix}/v1/models", models)
    return app


@contextmanager
def running_stub() -> Iterator[str]:
    """Serve the stub on 127.0.0.1 in a background thread; yields its root URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app())
    started = threading.Event()
    holder: dict[str, int] = {}

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["port"] = runner.addresses[0][1]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not started.wait(10):
        raise RuntimeError("stub server did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
