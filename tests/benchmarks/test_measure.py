"""Percentiles and counting on known data."""

from __future__ import annotations

import pytest

from benchmarks.load.client import RequestResult
from benchmarks.load.measure import Distribution, percentile, status_key, summarize


def test_percentile_interpolates_like_numpy() -> None:
    data = [1.0, 2.0, 3.0, 4.0]
    assert percentile(data, 50) == 2.5
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 4.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([5.0], 99) == 5.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        percentile([1.0], 101)


def test_distribution_reports_milliseconds() -> None:
    dist = Distribution.of_seconds([0.1, 0.2, 0.3, 0.4, 0.5])
    assert dist.count == 5
    assert dist.p50_ms == pytest.approx(300.0)
    assert dist.p90_ms == pytest.approx(460.0)
    assert dist.max_ms == pytest.approx(500.0)
    assert Distribution.of_seconds([]).p99_ms is None


def _ok(e2e: float, tokens: int = 10) -> RequestResult:
    return RequestResult(ok=True, status=200, e2e_s=e2e, output_tokens=tokens)


def test_summary_counts_429_5xx_timeouts_and_stream_errors_as_failures() -> None:
    results = [
        _ok(0.1),
        _ok(0.3),
        RequestResult(ok=False, status=429, e2e_s=0.001, retry_after="1"),
        RequestResult(ok=False, status=429, e2e_s=0.001),
        RequestResult(ok=False, status=503, e2e_s=0.001),
        RequestResult(ok=False, status=None, e2e_s=5.0, timed_out=True),
        RequestResult(ok=False, status=200, e2e_s=0.2, error="error event in stream"),
        RequestResult(ok=False, status=None, e2e_s=0.0, error="ConnectionRefused"),
    ]
    s = summarize(results, wall_s=2.0)
    assert s.requests == 8
    assert s.successes == 2
    assert s.failures == 6
    assert s.timeouts == 1
    assert s.by_status == {
        "200": 2,
        "200-failed": 1,
        "429": 2,
        "503": 1,
        "error": 1,
        "timeout": 1,
    }
    assert s.rejected_without_retry_after == 1
    # Latency and throughput describe successful requests only.
    assert s.e2e.count == 2
    assert s.e2e.p50_ms == pytest.approx(200.0)
    assert s.output_tokens == 20
    assert s.output_tokens_per_s == pytest.approx(10.0)
    assert s.requests_per_s == pytest.approx(1.0)


def test_status_key_never_files_a_failed_2xx_under_success() -> None:
    assert status_key(RequestResult(ok=False, status=200, e2e_s=0)) == "200-failed"
    assert status_key(RequestResult(ok=True, status=200, e2e_s=0)) == "200"


def test_summary_pools_inter_token_gaps_and_ttft() -> None:
    a = RequestResult(ok=True, status=200, e2e_s=1, ttft_s=0.05, itl_s=[0.01, 0.01, 0.01])
    b = RequestResult(ok=True, status=200, e2e_s=1, ttft_s=0.15, itl_s=[0.02])
    s = summarize([a, b], wall_s=1.0)
    assert s.ttft.p50_ms == pytest.approx(100.0)
    assert s.itl.count == 4
    assert s.itl.max_ms == pytest.approx(20.0)


def test_summary_of_zero_wall_time_has_zero_rates() -> None:
    s = summarize([], wall_s=0.0)
    assert s.requests_per_s == 0.0
    assert s.e2e.p50_ms is None
