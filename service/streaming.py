"""How a generation response ends early: client disconnect, or the end of a drain.

Once a request body has been read, the only message left on the ASGI receive
channel is `http.disconnect`, so a task waiting on it learns of the disconnect the
moment it happens, even while the engine is silent (queued, or before the first
token). The work is then cancelled, which aborts the request inside the engine.

`cut_off` is one future per server, resolved when a SIGTERM drain runs out of time:
requests still running are then ended cleanly (a 503, or an error event and
`[DONE]` in a stream) instead of being torn down mid-write by uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.errors import APIError, error_body, to_api_error

logger = logging.getLogger("service.streaming")

T = TypeVar("T")

CUT_OFF_ERROR = APIError(503, "server shut down before the response was complete", code="draining")


class ClientDisconnected(Exception):
    """The client went away before the response was ready."""


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def unless_disconnected(
    receive: Receive, work: Coroutine[Any, Any, T], cut_off: asyncio.Future[None] | None
) -> T:
    """Run `work` in this task; stop it with ClientDisconnected if the client leaves,
    or with CUT_OFF_ERROR if the server's drain ends first.

    The work runs in the calling task. The disconnect watcher, a task of its own, is
    started one loop turn later, so work that finishes without ever waiting (a fast
    engine) costs no task at all; work that waits learns of a disconnect as soon as
    the loop gets to the watcher, which is the first thing it runs.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    cause: Exception | None = None
    finished = False
    watcher: asyncio.Future[None] | None = None

    def interrupt(reason: Exception) -> None:
        nonlocal cause
        # Callbacks run after `finished` is set if the work won the race: never
        # cancel a task that has moved on.
        if not finished and cause is None:
            cause = reason
            task.cancel()

    def on_disconnect(done: asyncio.Future[None]) -> None:
        if not done.cancelled():
            interrupt(ClientDisconnected())

    def on_cut_off(_: asyncio.Future[None]) -> None:
        interrupt(CUT_OFF_ERROR)

    def start_watching() -> None:
        nonlocal watcher
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        watcher.add_done_callback(on_disconnect)

    watching = loop.call_soon(start_watching)
    if cut_off is not None:
        cut_off.add_done_callback(on_cut_off)
    try:
        return await work
    except asyncio.CancelledError:
        if cause is None:
            raise  # cancelled from outside (server shutdown): not ours to swallow
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        raise cause from None
    finally:
        finished = True
        watching.cancel()
        if watcher is not None:
            watcher.cancel()
        if cut_off is not None:
            cut_off.remove_done_callback(on_cut_off)


def sse_event(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def sse_error(error: APIError) -> bytes:
    return sse_event(json.dumps(error_body(error.status, error.message, error.code)))


SSE_DONE = sse_event("[DONE]")


@dataclass(frozen=True)
class EventStream:
    """What serving returns for a streamed answer: its events, each encoded by
    `sse_event`, and how to end the work behind them (abort, free the slot)."""

    events: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


class EventStreamResponse(Response):
    """Server-sent events from an EventStream, for every streaming route.

    The stream ends the same way for every API: `data: [DONE]`, after an error
    event if the events raised (headers are sent, so an error can only travel as an
    event), and after the stream's close, so its slot is free and its metrics are
    recorded by the time the client reads the end.

    Starlette's StreamingResponse notices a disconnect only when a write fails (ASGI
    spec 2.4), or not at all while the engine is silent; this one watches the
    receive channel for the whole stream and cancels the producer at once. The
    iterator is always closed and the stream's close always runs, so cleanup
    happens however the stream ends.
    """

    media_type = "text/event-stream"

    def __init__(self, stream: EventStream, cut_off: asyncio.Future[None] | None) -> None:
        # No Response.__init__: it would set a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._stream = stream
        self._cut_off = cut_off
        self._started = False

    async def _produce(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        self._started = True
        next_event = self._stream.events.__anext__
        end = SSE_DONE
        while True:
            try:
                event = await next_event()
            except StopAsyncIteration:
                break
            except Exception as error:
                end = sse_error(to_api_error(error)) + SSE_DONE
                break
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await self._stream.close()
        await send({"type": "http.response.body", "body": end, "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        waited: set[asyncio.Future[Any]] = {producer, watcher}
        if self._cut_off is not None:
            waited.add(self._cut_off)
        try:
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_and_wait(producer, watcher)
            close = getattr(self._stream.events, "aclose", None)
            if close is not None:
                await close()
            # Also when the stream never started (client gone before the headers),
            # when closing a not-yet-started iterator runs none of its cleanup.
            await self._stream.close()
        if producer.cancelled():
            if not watcher.cancelled():
                return  # the client left; nobody to write to
            await self._end_cut_off(send)
            return
        error = producer.exception()
        # Headers are sent; the stream can only end. OSError: the socket closed.
        if error is not None and not isinstance(error, OSError):
            logger.error("event stream failed", exc_info=error)

    async def _end_cut_off(self, send: Send) -> None:
        if not self._started:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        end = sse_error(CUT_OFF_ERROR) + SSE_DONE
        await send({"type": "http.response.body", "body": end, "more_body": False})


# OpenAPI: `stream: true` answers with server-sent events instead of JSON.
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` server-sent events ending in `data: [DONE]`.",
        "content": {
            "text/event-stream": {
                # One server-sent event: `data` is a JSON chunk, an error, or [DONE].
                "schema": {
                    "type": "object",
                    "properties": {"data": {"type": "string"}},
                    "required": ["data"],
                }
            }
        },
    }
}
