"""Client disconnects: noticing them is what lets the engine drop abandoned work.

Once a request body has been read, the only message left on the ASGI receive
channel is `http.disconnect`, so a task waiting on it learns of the disconnect the
moment it happens, even while the engine is silent (queued, or before the first
token). The work is then cancelled, which aborts the request inside the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger("service.streaming")

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away before the response was ready."""


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def unless_disconnected(receive: Receive, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; cancel it and raise ClientDisconnected if the client leaves first."""
    work_task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait((work_task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not work_task.done():
            await _cancel_and_wait(work_task, watcher)
        else:
            await _cancel_and_wait(watcher)
    if work_task.cancelled():
        raise ClientDisconnected
    return work_task.result()


class EventStreamResponse(Response):
    """Server-sent events from an async iterator of encoded events.

    Starlette's StreamingResponse only notices a disconnect when a write fails (ASGI
    spec 2.4) or not at all between events; this one watches the receive channel
    for the whole stream and cancels the producer at once. The iterator is always
    closed and `on_close` always runs, so cleanup (engine abort, admission release)
    happens however the stream ends.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[bytes],
        on_close: Callable[[], Awaitable[None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        # No Response.__init__: it would set a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})}
        )
        self._events = events
        # Called even if the stream never started (client gone before the headers),
        # when closing a not-yet-started iterator would run none of its cleanup.
        self._on_close = on_close

    async def _produce(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for event in self._events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_and_wait(producer, watcher)
            close = getattr(self._events, "aclose", None)
            if close is not None:
                await close()
            await self._on_close()
        error = None if producer.cancelled() else producer.exception()
        # Headers are sent; the stream can only end. OSError: the socket closed.
        if error is not None and not isinstance(error, OSError):
            logger.error("event stream failed", exc_info=error)


def sse_event(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


SSE_DONE = sse_event("[DONE]")


# OpenAPI: `stream: true` answers with server-sent events instead of JSON.
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` server-sent events ending in `data: [DONE]`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
