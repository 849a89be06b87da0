"""Show results: a rich table on the console, a JSON file, a sweep plot."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.load.measure import Distribution, Summary

SCHEMA_VERSION = 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _dist_row(name: str, dist: Distribution) -> tuple[str, str]:
    if dist.count == 0:
        return name, "-"
    return name, f"{_ms(dist.p50_ms)} / {_ms(dist.p90_ms)} / {_ms(dist.p99_ms)}"


def summary_table(summary: Summary) -> Table:
    title = f"{summary.label}" + (" (interrupted: partial results)" if summary.interrupted else "")
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("requests", str(summary.requests))
    table.add_row("successes", str(summary.successes))
    table.add_row("failures", str(summary.failures))
    statuses = ", ".join(f"{k}: {v}" for k, v in summary.by_status.items()) or "-"
    table.add_row("by status", statuses)
    table.add_row("timeouts", str(summary.timeouts))
    if summary.rejected_without_retry_after:
        table.add_row("429 without Retry-After", str(summary.rejected_without_retry_after))
    table.add_row(*_dist_row("e2e latency p50/p90/p99 (ms)", summary.e2e))
    table.add_row(*_dist_row("TTFT p50/p90/p99 (ms)", summary.ttft))
    table.add_row(*_dist_row("inter-token latency p50/p90/p99 (ms)", summary.itl))
    table.add_row("output tokens", str(summary.output_tokens))
    table.add_row("output tokens/s", f"{summary.output_tokens_per_s:.1f}")
    table.add_row("requests/s", f"{summary.requests_per_s:.2f}")
    table.add_row("wall time (s)", f"{summary.wall_s:.3f}")
    for message, count in summary.errors.items():
        table.add_row(f"error x{count}", message or "-")
    return table


def sweep_table(summaries: Sequence[Summary]) -> Table:
    table = Table(title="concurrency sweep", header_style="bold")
    for col in ("concurrency", "ok/total", "e2e p50", "e2e p99", "TTFT p99", "req/s", "tok/s"):
        table.add_column(col, justify="right")
    for s in summaries:
        table.add_row(
            str(s.concurrency),
            f"{s.successes}/{s.requests}",
            _ms(s.e2e.p50_ms),
            _ms(s.e2e.p99_ms),
            _ms(s.ttft.p99_ms),
            f"{s.requests_per_s:.2f}",
            f"{s.output_tokens_per_s:.1f}",
        )
    return table


def print_report(console: Console, summaries: Sequence[Summary]) -> None:
    for summary in summaries:
        console.print(summary_table(summary))
    if len(summaries) > 1:
        console.print(sweep_table(summaries))


def report_document(summaries: Sequence[Summary], config: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON report: the same figures as the table, plus the run's settings."""
    return {
        "schema_version": SCHEMA_VERSION,
        "config": dict(config),
        "interrupted": any(s.interrupted for s in summaries),
        "runs": [s.to_dict() for s in summaries],
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def plot_sweep(path: Path, summaries: Sequence[Summary], title: str = "") -> None:
    """Latency and throughput against concurrency, one figure with two panels."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [s for s in summaries if s.concurrency is not None]
    xs = [s.concurrency for s in points]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, attr in (("p50", "p50_ms"), ("p90", "p90_ms"), ("p99", "p99_ms")):
        values = [getattr(s.e2e, attr) or float("nan") for s in points]
        lat.plot(xs, values, "o-", label=f"e2e {name}")
    if any(s.ttft.count for s in points):
        lat.plot(xs, [s.ttft.p99_ms or float("nan") for s in points], "s--", label="TTFT p99")
    _concurrency_axes(lat, xs, "latency (ms)")
    lat.legend()
    thr.plot(xs, [s.requests_per_s for s in points], "o-", color="tab:green", label="requests/s")
    _concurrency_axes(thr, xs, "requests/s")
    tok = thr.twinx()
    tokens = [s.output_tokens_per_s for s in points]
    tok.plot(xs, tokens, "s--", color="tab:purple", label="tokens/s")
    tok.set_ylabel("output tokens/s")
    tok.set_ylim(bottom=0)
    lines = thr.get_lines() + tok.get_lines()
    thr.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _concurrency_axes(ax: Any, xs: list[int], ylabel: str) -> None:
    """Both panels share a log2 axis of the user counts measured, from zero up."""
    ax.set_xlabel("concurrent users")
    ax.set_ylabel(ylabel)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
