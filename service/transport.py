"""The HTTP/1.1 connection: uvicorn's h11 protocol with the limits a public server needs.

Why h11 rather than httptools (uvicorn's default when installed): h11 parses one
request at a time and stops reading the socket while it is answered, so a client
that pipelines thousands of requests costs one buffer, not a queue of them; it caps
the request head (request line + headers) at a size we choose; and it reads the body
of a request that carries `Upgrade: h2c` (what `curl --http2` sends over plain HTTP),
where llhttp stops at the headers and hands the app an empty body.

What neither parser does, added here, each timer armed only while it can fire:
- a connection cap, so a flood of sockets cannot exhaust file descriptors: at the cap
  a new connection closes an idle one (keep-alive, or a head still arriving), and
  only when every connection has a request in progress is it refused with a 503;
- keep-alive for fresh connections too (uvicorn arms it only after a first response);
- a deadline for the whole request head once its first byte arrives (slowloris), and
  one for the body once the head is in (a stalled upload holds no buffer forever);
- a send timeout: a client that stops reading, so that our writes stay blocked for
  that long, is disconnected, which frees its admission slot and ends its stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

# Far above what real clients send (nginx allows 4 x 8 KiB of headers), far below
# what would cost memory or parse time.
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class TransportLimits:
    max_connections: int
    header_timeout: float
    body_timeout: float
    send_timeout: float


def _raw_response(status: int, reason: bytes, message: bytes) -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(message),
            b"connection: close\r\n\r\n",
            message,
        )
    )


_TOO_MANY_CONNECTIONS = _raw_response(503, b"Service Unavailable", b"too many connections\n")
_HEAD_TOO_LARGE = _raw_response(
    431,
    b"Request Header Fields Too Large",
    b"request line and headers exceed %d bytes\n" % MAX_HEAD_BYTES,
)
_HEAD_TIMEOUT = _raw_response(408, b"Request Timeout", b"request headers not received in time\n")


class GuardedH11Protocol(H11Protocol):
    """One connection; `limits` is set on the subclass `protocol_class` builds."""

    limits: TransportLimits

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for: object = None
        self._send_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    # --- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._evict_one_idle():
            self._refused = True
            self.transport = transport
            transport.write(_TOO_MANY_CONNECTIONS)
            transport.close()
            return
        super().connection_made(transport)
        # A connection that never sends a request is closed like an idle keep-alive one.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    @property
    def _idle(self) -> bool:
        """No request of this connection is being answered (keep-alive, or still
        sending its head): closing it loses nothing that was accepted."""
        return not self._refused and (self.cycle is None or self.cycle.response_complete)

    def _evict_one_idle(self) -> bool:
        # At the cap, an idle connection makes room for the new one: a flood of idle
        # or slow sockets then cannot lock out probes and real clients, and a client
        # whose idle keep-alive connection closes simply opens another.
        for connection in self.connections:
            if isinstance(connection, GuardedH11Protocol) and connection._idle:
                self.connections.discard(connection)
                connection.transport.close()
                return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._cancel_send_deadline()
        if self._refused:
            return
        super().connection_lost(exc)

    # --- reading

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        in_head = self.conn.their_state is h11.IDLE
        if in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        self._watch_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_reading()

    def _watch_reading(self) -> None:
        """Arm the deadline of what we now wait for from the client, once per phase."""
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.our_state is h11.IDLE and self._head_bytes:
            self._arm(state, self.limits.header_timeout, self._head_timed_out)
        elif state is h11.SEND_BODY:
            self._head_bytes = 0
            self._arm(state, self.limits.body_timeout, self._body_timed_out)
        else:
            if state is not h11.IDLE:
                self._head_bytes = 0
            self._cancel_deadline()

    def _arm(self, phase: object, seconds: float, callback: Any) -> None:
        if self._deadline is not None and self._deadline_for is phase:
            return
        self._cancel_deadline()
        self._deadline_for = phase
        self._deadline = self.loop.call_later(seconds, callback)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
            self._deadline_for = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_HEAD_TIMEOUT)
            self.transport.close()

    def _body_timed_out(self) -> None:
        # The app is waiting on the body: closing the connection tells it the client
        # left (http.disconnect), which ends the request the way a disconnect does.
        self._deadline = None
        self.logger.info("request body not received in time; closing the connection")
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > MAX_HEAD_BYTES:
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()
            return
        super().send_400_response(msg)

    # --- writing

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_deadline is None:
            self._send_deadline = self.loop.call_later(
                self.limits.send_timeout, self._send_timed_out
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_send_deadline()

    def _cancel_send_deadline(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _send_timed_out(self) -> None:
        self._send_deadline = None
        self.logger.info("client stopped reading the response; closing the connection")
        # abort(): close() would wait for the buffer the client never reads.
        self.transport.abort()


def protocol_class(limits: TransportLimits) -> type[GuardedH11Protocol]:
    """uvicorn builds one protocol per connection from a class: bind the limits to one."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
