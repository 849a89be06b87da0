"""Turn request results into the figures the report shows.

Percentiles use linear interpolation between closest ranks (numpy's default), so
p50 of [1, 2, 3, 4] is 2.5. Rates divide by the wall time of the whole run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.load.client import RequestResult

PERCENTILES: tuple[int, ...] = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, linearly interpolated."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Distribution:
    """p50/p90/p99, mean and max of one quantity, in milliseconds."""

    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, None, None, None, None, None)
        ms = [v * 1000 for v in values]
        return cls(
            count=len(ms),
            p50_ms=percentile(ms, 50),
            p90_ms=percentile(ms, 90),
            p99_ms=percentile(ms, 99),
            mean_ms=sum(ms) / len(ms),
            max_ms=max(ms),
        )


@dataclass
class Summary:
    """Everything the table and the JSON report say about one run."""

    label: str
    concurrency: int | None
    wall_s: float
    requests: int
    successes: int
    failures: int
    timeouts: int
    by_status: dict[str, int]
    rejected_without_retry_after: int
    e2e: Distribution
    ttft: Distribution
    itl: Distribution
    output_tokens: int
    output_tokens_per_s: float
    requests_per_s: float
    interrupted: bool = False
    errors: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def status_key(result: RequestResult) -> str:
    """How a result is counted in `by_status`: the HTTP code, 'timeout' or 'error'."""
    if result.timed_out:
        return "timeout"
    if result.status is None:
        return "error"
    # A 2xx whose stream carried an error event is a failure under its own key, so
    # `by_status["200"]` never mixes successes with failures.
    if 200 <= result.status < 300 and not result.ok:
        return f"{result.status}-failed"
    return str(result.status)


def summarize(
    results: Iterable[RequestResult],
    wall_s: float,
    *,
    label: str = "run",
    concurrency: int | None = None,
    interrupted: bool = False,
) -> Summary:
    """Figures over `results`; latencies count successful requests only."""
    done = list(results)
    good = [r for r in done if r.ok]
    statuses = Counter(status_key(r) for r in done)
    errors = Counter((r.error or "")[:120] for r in done if not r.ok)
    tokens = sum(r.output_tokens for r in good)
    return Summary(
        label=label,
        concurrency=concurrency,
        wall_s=wall_s,
        requests=len(done),
        successes=len(good),
        failures=len(done) - len(good),
        timeouts=sum(1 for r in done if r.timed_out),
        by_status=dict(sorted(statuses.items())),
        rejected_without_retry_after=sum(1 for r in done if r.status == 429 and not r.retry_after),
        e2e=Distribution.of_seconds([r.e2e_s for r in good]),
        ttft=Distribution.of_seconds([r.ttft_s for r in good if r.ttft_s is not None]),
        itl=Distribution.of_seconds([gap for r in good for gap in r.itl_s]),
        output_tokens=tokens,
        output_tokens_per_s=tokens / wall_s if wall_s > 0 else 0.0,
        requests_per_s=len(good) / wall_s if wall_s > 0 else 0.0,
        interrupted=interrupted,
        errors=dict(errors.most_common(5)),
    )
