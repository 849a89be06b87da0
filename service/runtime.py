"""What one running server holds: settings, engine, admission, metrics and its phase.

Phases: loading -> ready -> draining (SIGTERM); loading -> failed when the model cannot
load; ready or draining -> failed when the loaded engine dies. Only `ready` serves
generation requests; /health/ready reports the phase and /health/live fails once it is
`failed`, so Kubernetes restarts a pod whose engine is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from service.admission import Admission
from service.engines.base import Engine, EngineInfo
from service.errors import APIError
from service.generation_check import GenerationCheck
from service.metric_names import REJECT_DRAINING, REJECT_NOT_READY
from service.metrics import ServerMetrics
from service.settings import Settings

logger = logging.getLogger("service.runtime")

Phase = Literal["loading", "ready", "draining", "failed"]

# After a drain times out, how long cut-off requests get to write their last bytes.
_CUT_OFF_GRACE_SECONDS = 1.0


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    metrics: ServerMetrics
    admission: Admission
    generation_check: GenerationCheck
    # Read through `phase`, which also notices an engine that died after loading.
    _phase: Phase = "loading"
    # Why the phase is `failed`, for the probes' bodies.
    failure: str | None = None
    info: EngineInfo | None = None
    # Set by the process that serves this app: called when the model cannot load, so
    # the pod restarts (and shows CrashLoopBackOff) instead of staying unready forever.
    on_fatal: Callable[[], None] | None = None
    # Resolved when a drain runs out of time: requests still running end cleanly.
    cut_off: asyncio.Future[None] | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    _drain_cut_short: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, settings: Settings, engine: Engine) -> Runtime:
        metrics = ServerMetrics()
        admission = Admission(settings.max_concurrent_requests, settings.max_queued_requests)
        metrics.track_admission(lambda: admission.running, lambda: admission.waiting)
        metrics.track_engine(engine)
        check = GenerationCheck(
            engine,
            interval_seconds=settings.health_generate_interval_seconds,
            timeout_seconds=settings.health_generate_timeout_seconds,
        )
        return cls(
            settings=settings,
            engine=engine,
            metrics=metrics,
            admission=admission,
            generation_check=check,
        )

    @property
    def phase(self) -> Phase:
        # Asked on every probe and request, so a dead engine turns the pod unready and
        # not live without any watcher task; fatal_error() is cheap by contract.
        if self._phase in ("ready", "draining"):
            reason = self.engine.fatal_error()
            if reason is not None:
                logger.error("engine stopped serving: %s", reason)
                self._fail(f"engine stopped serving: {reason}")
        return self._phase

    def require_ready(self) -> None:
        """Raise 503 unless the engine is loaded and the server is not draining.

        Serving calls this first, once per request: before the model name or the
        context length, which only a loaded engine knows, are checked.
        """
        phase = self.phase
        if phase == "ready":
            return
        if phase == "draining":
            self.metrics.rejected.labels(REJECT_DRAINING).inc()
            raise APIError(503, "server is shutting down", code="draining")
        self.metrics.rejected.labels(REJECT_NOT_READY).inc()
        message = "model is loading" if phase == "loading" else "model failed to load"
        raise APIError(503, message, code="model_not_ready", headers={"Retry-After": "5"})

    def _fail(self, reason: str) -> None:
        self._phase = "failed"
        self.failure = reason

    @property
    def model_name(self) -> str:
        return self.settings.served_model_name or (
            self.info.model_name if self.info else self.settings.model_name or "unknown"
        )

    def start(self) -> None:
        """Called in the lifespan, on the loop that will serve requests."""
        self.cut_off = asyncio.get_running_loop().create_future()

    async def load_engine(self) -> None:
        started = time.monotonic()
        logger.info("loading engine %s", self.settings.engine)
        try:
            info = await self.engine.load()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("engine failed to load")
            self._fail("engine failed to load (the server log has the error)")
            if self.on_fatal:
                self.on_fatal()
            return
        self.info = info
        self.metrics.model_load.set(time.monotonic() - started)
        if self._phase == "loading":
            self._phase = "ready"
        logger.info("engine ready: model %s in %.1f s", self.model_name, time.monotonic() - started)

    def begin_drain(self) -> None:
        """Flip readiness at once; safe to call from a signal handler."""
        if self._phase != "failed":
            self._phase = "draining"

    def end_drain_now(self) -> None:
        """Cut the drain short: requests still running end as at its timeout."""
        self._drain_cut_short.set()

    async def drain(self, timeout: float) -> bool:
        """Wait for admitted requests to finish; False if the timeout (or
        end_drain_now) cut them off."""
        idle = asyncio.ensure_future(self.admission.wait_idle())
        cut_short = asyncio.ensure_future(self._drain_cut_short.wait())
        try:
            await asyncio.wait({idle, cut_short}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            for waiter in (idle, cut_short):
                waiter.cancel()
        if idle.done() and not idle.cancelled():
            return True
        logger.warning(
            "drain %s with %d requests in flight",
            "cut short" if self._drain_cut_short.is_set() else f"timeout after {timeout:.0f} s",
            self.admission.in_flight,
        )
        if self.cut_off is not None and not self.cut_off.done():
            self.cut_off.set_result(None)
        # Each request now ends itself (503 or a final error event); give them a moment.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.admission.wait_idle(), _CUT_OFF_GRACE_SECONDS)
        return False
