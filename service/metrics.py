"""The server's Prometheus metrics, under the names in service.metric_names.

Each app gets its own registry, so several apps in one process (tests) never clash.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from service.engines.base import KvCacheStats
from service.metric_names import (
    E2E_REQUEST_LATENCY_SECONDS,
    ENGINE_STALL_SECONDS,
    GENERATION_TOKENS_TOTAL,
    HTTP_REQUESTS_TOTAL,
    INTER_TOKEN_LATENCY_SECONDS,
    KV_CACHE_FREE_BLOCKS,
    KV_CACHE_MAX_BLOCKS,
    KV_CACHE_TOKENS_PER_BLOCK,
    KV_CACHE_USED_BLOCKS,
    KV_CACHE_UTILIZATION,
    MODEL_LOAD_SECONDS,
    PROMPT_TOKENS_TOTAL,
    REJECT_REASONS,
    REQUESTS_REJECTED_TOTAL,
    REQUESTS_RUNNING,
    REQUESTS_WAITING,
    TIME_TO_FIRST_TOKEN_SECONDS,
)

# The `*_created` series prometheus-client adds to every counter and histogram only
# double the scrape size; nothing we ship reads them.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Buckets span a small model on a fast GPU up to a 70B model under load.
_E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30)
_ITL_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1)


class LoopHistogram:
    """A Prometheus histogram observed from the event loop's thread only.

    The inter-token histogram is observed once per generated token, and
    prometheus_client's Histogram takes two locks and walks its buckets in Python
    each time: with a fast engine that was a tenth of a request's cost. Here an
    observation is one bisect and two additions; nothing else in the server runs on
    another thread, so no lock is needed. The exposition is the same as a Histogram's.
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = (*buckets, math.inf)
        self._labels = [floatToGoString(bound) for bound in self._bounds]
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        # The first bucket whose upper bound is >= value, as `le` means.
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation)
        cumulative = [float(count) for count in accumulate(self._counts)]
        family.add_metric([], list(zip(self._labels, cumulative, strict=True)), self._sum)
        yield family


class EngineLoad(Protocol):
    """What the metrics read from the engine (service.engines.base.Engine)."""

    def stalled_seconds(self) -> float: ...
    def queued_requests(self) -> int: ...
    def kv_cache(self) -> KvCacheStats | None: ...


class _KvCacheCollector(Collector):
    """The KV-cache gauges of the trtllm-serve dialect, read from the engine per scrape;
    no series at all where the engine cannot tell (better absent than a false 0)."""

    def __init__(self, read: Callable[[], KvCacheStats | None]) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._read()
        if stats is None:
            return
        yield GaugeMetricFamily(
            KV_CACHE_UTILIZATION, "Fraction of KV-cache blocks in use (0..1).", stats.utilization
        )
        yield GaugeMetricFamily(KV_CACHE_USED_BLOCKS, "KV-cache blocks in use.", stats.used_blocks)
        yield GaugeMetricFamily(
            KV_CACHE_FREE_BLOCKS, "KV-cache blocks free.", stats.max_blocks - stats.used_blocks
        )
        yield GaugeMetricFamily(KV_CACHE_MAX_BLOCKS, "KV-cache blocks in all.", stats.max_blocks)
        yield GaugeMetricFamily(
            KV_CACHE_TOKENS_PER_BLOCK, "Tokens one KV-cache block holds.", stats.tokens_per_block
        )


class ServerMetrics:
    """All metrics of one app, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.http_requests = Counter(
            HTTP_REQUESTS_TOTAL,
            "HTTP requests by route template and status code.",
            ["route", "status"],
            registry=reg,
        )
        self.rejected = Counter(
            REQUESTS_REJECTED_TOTAL,
            "Requests refused before reaching the engine, by reason.",
            ["reason"],
            registry=reg,
        )
        # Series that exist at 0 from the start make rate() and alerts work before
        # the first rejection.
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self.e2e_latency = LoopHistogram(
            E2E_REQUEST_LATENCY_SECONDS,
            "Time from arrival to the last token of a generation request.",
            _E2E_BUCKETS,
            reg,
        )
        self.ttft = LoopHistogram(
            TIME_TO_FIRST_TOKEN_SECONDS,
            "Time from arrival to the first generated token (queueing included).",
            _TTFT_BUCKETS,
            reg,
        )
        self.itl = LoopHistogram(
            INTER_TOKEN_LATENCY_SECONDS,
            "Time between successive engine outputs of one sequence.",
            _ITL_BUCKETS,
            reg,
        )
        self.prompt_tokens = Counter(
            PROMPT_TOKENS_TOTAL, "Prompt tokens of finished sequences.", registry=reg
        )
        self.generation_tokens = Counter(GENERATION_TOKENS_TOTAL, "Tokens generated.", registry=reg)
        # Counted in sequences (prompts x n), as admission counts them: a fan-out request
        # weighs on the engine, and on the autoscaler, as its sequences do.
        self.running = Gauge(
            REQUESTS_RUNNING, "Sequences (prompts x n) the engine is executing.", registry=reg
        )
        self.waiting = Gauge(
            REQUESTS_WAITING,
            "Sequences (prompts x n) queued in this server: admission queue plus the engine's "
            "own queue (autoscaling and routing signal).",
            registry=reg,
        )
        self._admission: tuple[Callable[[], float], Callable[[], float]] = (
            lambda: 0.0,
            lambda: 0.0,
        )
        self._engine: EngineLoad | None = None
        self.running.set_function(self._running)
        self.waiting.set_function(self._waiting)
        reg.register(_KvCacheCollector(lambda: self._engine.kv_cache() if self._engine else None))
        self.engine_stall = Gauge(
            ENGINE_STALL_SECONDS,
            "Seconds the engine has produced nothing while requests wait on it (0 when "
            "idle); past ENGINE_STALL_SECONDS liveness fails.",
            registry=reg,
        )

        self.model_load = Gauge(
            MODEL_LOAD_SECONDS,
            "Seconds the engine took to load the model (0 until it has loaded).",
            registry=reg,
        )

    def track_engine(self, engine: EngineLoad) -> None:
        """Read the engine's stall time, queue and KV cache at scrape time."""
        self._engine = engine
        self.engine_stall.set_function(engine.stalled_seconds)

    def track_admission(self, running: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Read the gauges from the admission controller at scrape time, so they are exact."""
        self._admission = (running, waiting)

    def _engine_queued(self) -> float:
        return self._engine.queued_requests() if self._engine else 0

    def _running(self) -> float:
        # Requests past admission that the engine still queues are waiting, not running.
        return max(0.0, self._admission[0]() - self._engine_queued())

    def _waiting(self) -> float:
        return self._admission[1]() + self._engine_queued()

    def render(self) -> bytes:
        return generate_latest(self.registry)
