"""uvicorn, with a graceful drain in front of its own shutdown.

Plain uvicorn stops listening the moment SIGTERM arrives and then waits for open
connections, so Kubernetes keeps routing new requests to a pod that refuses them,
and a long stream can keep the pod alive forever. Here SIGTERM first turns
readiness to 503 (the pod leaves the Service endpoints) while the server keeps
answering: new requests get a clean 503, admitted ones and their streams run to
the end, for at most DRAIN_TIMEOUT_SECONDS. Only then does uvicorn's shutdown run,
and the lifespan shuts the engine down. A second signal ends the drain at once, as
its timeout would (streams get a final error event); a third exits without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from service.app import create_app
from service.runtime import Runtime
from service.settings import Settings
from service.transport import MAX_HEAD_BYTES, TransportLimits, protocol_class

logger = logging.getLogger("service.server")

# Once drained, how long uvicorn may wait for connections still open (a drain cut
# short by its timeout) before it cancels them.
SHUTDOWN_GRACE_SECONDS = 2.0
# Longer than the idle timeout of common load balancers (60 s), so they, not we,
# close idle connections and never send a request down a socket we just closed.
KEEP_ALIVE_SECONDS = 75

EXIT_OK = 0
EXIT_MODEL_LOAD_FAILED = 1


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime, drain_timeout: float) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.drain_timeout = drain_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._signals = 0
        runtime.on_fatal = self._stop_now

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs as a signal handler: only flip flags and schedule work on the loop.
        # Unlike uvicorn, the signal is not re-raised after shutdown: exit status 0.
        self._signals += 1
        if self._loop is not None and self.started and self._signals <= 2:
            if self._signals == 1:
                self.runtime.begin_drain()
                self._loop.call_soon_threadsafe(self._start_drain)
            else:
                # Impatience (a second Ctrl-C, kubectl delete --now): end what still
                # runs as a drain timeout does, with a final event, not a torn stream.
                self._loop.call_soon_threadsafe(self.runtime.end_drain_now)
            return
        if self._signals >= 3:
            self.force_exit = True
        self.should_exit = True

    def request_drain(self) -> None:
        """Drain as SIGTERM would (for servers run in a thread, which get no signals)."""
        self.handle_exit(signal.SIGTERM, None)

    def _start_drain(self) -> None:
        logger.info(
            "draining: readiness is 503, waiting for %d requests", self.runtime.admission.in_flight
        )
        self._drain_task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        if await self.runtime.drain(self.drain_timeout):
            logger.info("drained")
        self.should_exit = True

    def _stop_now(self) -> None:
        self.should_exit = True


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """uvicorn's settings for the app, the transport's limits (service.transport) included."""
    limits = TransportLimits(
        max_connections=settings.max_connections,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        send_timeout=settings.send_timeout_seconds,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(limits),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        log_config=None,  # service.logs configured every logger, uvicorn's included
        log_level=settings.log_level,
        access_log=False,  # RequestScopeMiddleware logs requests with their id and duration
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


def build_server(settings: Settings) -> DrainingServer:
    app = create_app(settings)
    config = uvicorn_config(app, settings)
    return DrainingServer(config, app.state.runtime, settings.drain_timeout_seconds)


def exit_status(server: DrainingServer) -> int:
    return EXIT_MODEL_LOAD_FAILED if server.runtime.phase == "failed" else EXIT_OK
