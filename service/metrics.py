"""The server's Prometheus metrics: the one list the chart's dashboard and HPA read.

Names follow the Prometheus guide (one `trtllm_` prefix, base units, `_total` on
counters only) and mirror vLLM / TensorRT-LLM's familiar ones so existing dashboards
carry over. `trtllm_requests_waiting` is the autoscaling signal: requests admitted
but still waiting for one of MAX_CONCURRENT_REQUESTS slots.

Each app gets its own registry, so several apps in one process (tests) never clash.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

HTTP_REQUESTS_TOTAL = "trtllm_http_requests_total"
REQUESTS_REJECTED_TOTAL = "trtllm_requests_rejected_total"
E2E_REQUEST_LATENCY_SECONDS = "trtllm_e2e_request_latency_seconds"
TIME_TO_FIRST_TOKEN_SECONDS = "trtllm_time_to_first_token_seconds"
INTER_TOKEN_LATENCY_SECONDS = "trtllm_inter_token_latency_seconds"
PROMPT_TOKENS_TOTAL = "trtllm_prompt_tokens_total"
GENERATION_TOKENS_TOTAL = "trtllm_generation_tokens_total"
REQUESTS_RUNNING = "trtllm_requests_running"
REQUESTS_WAITING = "trtllm_requests_waiting"

# The `*_created` series prometheus-client adds to every counter and histogram only
# double the scrape size; nothing we ship reads them.
disable_created_metrics()

# Exported base names (histograms without their _bucket/_sum/_count series).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        HTTP_REQUESTS_TOTAL,
        REQUESTS_REJECTED_TOTAL,
        E2E_REQUEST_LATENCY_SECONDS,
        TIME_TO_FIRST_TOKEN_SECONDS,
        INTER_TOKEN_LATENCY_SECONDS,
        PROMPT_TOKENS_TOTAL,
        GENERATION_TOKENS_TOTAL,
        REQUESTS_RUNNING,
        REQUESTS_WAITING,
    }
)

# Label values of REQUESTS_REJECTED_TOTAL; a fixed set keeps cardinality bounded.
REJECT_QUEUE_FULL = "queue_full"
REJECT_NOT_READY = "not_ready"
REJECT_DRAINING = "draining"
REJECT_PROMPT_TOO_LONG = "prompt_too_long"
REJECT_REASONS = (REJECT_QUEUE_FULL, REJECT_NOT_READY, REJECT_DRAINING, REJECT_PROMPT_TOO_LONG)

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
        self.running = Gauge(REQUESTS_RUNNING, "Requests holding an engine slot.", registry=reg)
        self.waiting = Gauge(
            REQUESTS_WAITING,
            "Requests queued for an engine slot (autoscaling signal).",
            registry=reg,
        )

    def track_admission(self, running: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Read the gauges from the admission controller at scrape time, so they are exact."""
        self.running.set_function(running)
        self.waiting.set_function(waiting)

    def render(self) -> bytes:
        return generate_latest(self.registry)
