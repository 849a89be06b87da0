"""The benchmarks side by side in one run: `python -m benchmarks.run`.

Every server runs as its own subprocess on a free 127.0.0.1 port, and so does the
load generator (`python -m benchmarks.load`): client and server never share an event
loop or a GIL, so the client's CPU time is not charged to the server's latency, and
the same client process shape measures every server. Results go to
benchmarks/RESULTS.md, benchmarks/results.json and benchmarks/concurrency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.load.measure import percentile
from benchmarks.results_md import RESULTS_DIR, load_efficiency, render_markdown
from benchmarks.servers import REPO, Server, serve

# Benchmark 1: engine time = TTFT + (tokens - 1) x ITL = 20 + 18 x 10 = 200 ms.
CONCURRENCY_USERS = 64
CONCURRENCY_TTFT_MS = 20.0
CONCURRENCY_ITL_MS = 10.0
CONCURRENCY_TOKENS = 19
# Benchmark 3.
STREAM_USERS = 32
STREAM_TOKENS = 256
STREAM_TTFT_MS = 50.0
STREAM_ITL_MS = 10.0
# Benchmark 4: a small admission window so a modest client count overflows it.
BACKPRESSURE_CONCURRENT = 4
BACKPRESSURE_QUEUED = 8
BACKPRESSURE_FACTOR = 4
# Benchmark 5: the simulated engine's clock, which every engine time above assumes.
CLOCK_ITL_MS = 10.0
CLOCK_TOKENS = 200


def engine_time_ms(ttft_ms: float, itl_ms: float, tokens: int) -> float:
    """How long the simulated engine takes for one sequence of `tokens` tokens."""
    return ttft_ms + (tokens - 1) * itl_ms


@dataclass
class Figure:
    benchmark: str
    name: str
    value: float | None
    unit: str
    target: str
    passed: bool | None
    note: str = ""


@dataclass
class Outcome:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def simulated_env(**settings: float | int | str) -> dict[str, str]:
    env = {"ENGINE": "simulated", "LOG_LEVEL": "warning"}
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


def ours(name: str, log_dir: Path, **settings: float | int | str):  # type: ignore[no-untyped-def]
    return serve(
        name,
        ["-m", "service"],
        env=simulated_env(**settings),
        health_path="/health/ready",
        log_dir=log_dir,
    )


class LoadFailed(RuntimeError):
    pass


def run_load(
    outcome: Outcome, server: Server, args: Sequence[str], work: Path, tag: str
) -> list[dict[str, Any]]:
    """Run the load generator in its own process; return its JSON report's runs.

    Failed requests do not fail the process (--allow-failures): each figure judges
    its run's counts itself, and the overload figure expects 429s."""
    out = work / f"{tag}.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.load",
        "--quiet",
        "--base-url",
        server.base_url,
        "--json",
        str(out),
        "--allow-failures",
        *args,
    ]
    shown = " ".join(["python -m benchmarks.load --base-url <server>", *args])
    if shown not in outcome.commands:
        outcome.commands.append(shown)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not out.exists():
        raise LoadFailed(f"{shown} exited {proc.returncode}: {proc.stderr[-2000:]}")
    runs: list[dict[str, Any]] = json.loads(out.read_text())["runs"]
    return runs


class HealthPoller:
    """Polls a health URL every `interval_s` from a thread; records status and latency."""

    def __init__(self, url: str, interval_s: float = 0.05, timeout_s: float = 2.0) -> None:
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.samples: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                    status = str(resp.status)
            except urllib.error.HTTPError as exc:
                status = str(exc.code)
            except TimeoutError:
                status = "timeout"
            except (urllib.error.URLError, OSError) as exc:
                status = "timeout" if "timed out" in str(exc) else "error"
            self.samples.append((status, (time.perf_counter() - start) * 1000))
            self._stop.wait(self.interval_s)

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for status, _ in self.samples:
            statuses[status] = statuses.get(status, 0) + 1
        latencies = [ms for _, ms in self.samples]
        return {
            "polls": len(self.samples),
            "by_status": statuses,
            "max_ms": max(latencies) if latencies else None,
            "all_200": bool(self.samples) and set(statuses) == {"200"},
        }


def bench_concurrency(outcome: Outcome, work: Path, repeats: int) -> None:
    engine_ms = engine_time_ms(CONCURRENCY_TTFT_MS, CONCURRENCY_ITL_MS, CONCURRENCY_TOKENS)
    args = [
        "--mode",
        "generate",
        "--users",
        str(CONCURRENCY_USERS),
        "--requests",
        "1",
        "--warmup",
        "1",
        "--max-tokens",
        str(CONCURRENCY_TOKENS),
        "--timeout",
        "120",
    ]
    settings = {
        "simulated_ttft_ms": CONCURRENCY_TTFT_MS,
        "simulated_itl_ms": CONCURRENCY_ITL_MS,
        "simulated_max_batch": CONCURRENCY_USERS,
        "max_concurrent_requests": CONCURRENCY_USERS,
        "max_queued_requests": CONCURRENCY_USERS,
    }
    walls: list[float] = []
    ours_runs: list[dict[str, Any]] = []
    with ours("ours-concurrency", work, **settings) as server:
        run_load(outcome, server, ["--mode", "generate", "--max-tokens", "1"], work, "warmup")
        for i in range(repeats):
            with HealthPoller(server.base_url + server.health_path) as poller:
                (run,) = run_load(outcome, server, args, work, f"concurrency-ours-{i}")
            run["health"] = poller.summary()
            ours_runs.append(run)
            walls.append(run["wall_s"] * 1000)
    floor_walls: list[float] = []
    floor_argv = ["-m", "benchmarks.bare_server", "--engine-ms", str(engine_ms)]
    with serve("floor-concurrency", floor_argv, health_path="/health/ready", log_dir=work) as floor:
        for i in range(repeats):
            (run,) = run_load(outcome, floor, args, work, f"concurrency-floor-{i}")
            floor_walls.append(run["wall_s"] * 1000)
    guide_argv = ["-m", "benchmarks.guide_server", "--engine-ms", str(engine_ms)]
    with serve("guide-concurrency", guide_argv, health_path="/health", log_dir=work) as guide:
        # No warm-up here: the guide's server answers one request at a time, so warm
        # connections would sit idle past uvicorn's 5 s keep-alive and be closed under
        # the client; fresh connections measure the design, not that artefact.
        cold = [*args[: args.index("--warmup")], *args[args.index("--warmup") + 2 :]]
        with HealthPoller(guide.base_url + guide.health_path) as poller:
            (guide_run,) = run_load(outcome, guide, cold, work, "concurrency-guide")
        guide_run["health"] = poller.summary()
    ours_wall = statistics.median(walls)
    ratio = ours_wall / engine_ms
    all_ok = all(r["successes"] == CONCURRENCY_USERS for r in ours_runs)
    outcome.figures.append(
        Figure(
            "1 concurrency",
            f"ours: wall of {CONCURRENCY_USERS} concurrent requests / engine time",
            ratio,
            "x",
            "<= 1.15",
            ratio <= 1.15 and all_ok,
            f"median of {repeats}: {ours_wall:.0f} ms for {engine_ms:.0f} ms of engine time; "
            f"runs {', '.join(f'{w:.0f}' for w in walls)} ms",
        )
    )
    floor_wall = statistics.median(floor_walls)
    outcome.figures.append(
        Figure(
            "1 concurrency",
            "floor: bare FastAPI route awaiting the engine time, same client / engine time",
            floor_wall / engine_ms,
            "x",
            "(reference)",
            None,
            f"median of {repeats}: {floor_wall:.0f} ms; what client and machine alone "
            f"cost; ours / floor = {ours_wall / floor_wall:.3f}",
        )
    )
    guide_ratio = guide_run["wall_s"] * 1000 / engine_ms
    outcome.figures.append(
        Figure(
            "1 concurrency",
            "guide's design: the same / engine time",
            guide_ratio,
            "x",
            "(reference)",
            None,
            f"{guide_run['wall_s'] * 1000:.0f} ms; /health worst latency under load "
            f"{guide_run['health']['max_ms'] or 0:.0f} ms vs ours "
            f"{max(r['health']['max_ms'] or 0 for r in ours_runs):.0f} ms",
        )
    )
    outcome.details["concurrency"] = {
        "engine_ms": engine_ms,
        "ours": ours_runs,
        "guide": guide_run,
        "floor_wall_ms": floor_walls,
    }


def _record_body(server: Server, max_tokens: int, path: Path) -> None:
    """Save one real /v1/completions response so the bare server returns the same bytes."""
    request = urllib.request.Request(
        server.base_url + "/v1/completions",
        data=json.dumps({"prompt": "Hello there", "max_tokens": max_tokens}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        path.write_bytes(resp.read())


def _served_model(server: Server) -> str:
    with urllib.request.urlopen(server.base_url + "/v1/models", timeout=30) as resp:
        return str(json.loads(resp.read())["data"][0]["id"])


def bench_overhead(outcome: Outcome, work: Path, repeats: int, duration_s: float) -> None:
    tokens = 16
    users = 32
    body = work / "overhead-body.json"
    settings = {
        "simulated_ttft_ms": 0,
        "simulated_itl_ms": 0,
        "max_concurrent_requests": 256,
        "max_queued_requests": 1024,
    }
    ratios: list[float] = []
    rounds: list[dict[str, Any]] = []
    with ours("ours-overhead", work, **settings) as server:
        _record_body(server, tokens, body)
        # Both servers get the identical request, model name included.
        base = ["--mode", "completions", "--model", _served_model(server)]
        base += ["--users", str(users), "--max-tokens", str(tokens)]
        args = [*base, "--duration", str(duration_s)]
        warm = [*base, "--requests", "20"]
        bare_argv = ["-m", "benchmarks.bare_server", "--body-file", str(body)]
        with serve("bare-overhead", bare_argv, health_path="/health/ready", log_dir=work) as bare:
            # Warm both (imports, first-request paths) before anything counts.
            run_load(outcome, server, warm, work, "warm-ours")
            run_load(outcome, bare, warm, work, "warm-bare")
            for i in range(repeats):
                (ours_run,) = run_load(outcome, server, args, work, f"overhead-ours-{i}")
                (bare_run,) = run_load(outcome, bare, args, work, f"overhead-bare-{i}")
                ratio = ours_run["requests_per_s"] / max(bare_run["requests_per_s"], 1e-9)
                ratios.append(ratio)
                rounds.append({"ours": ours_run, "bare": bare_run, "ratio": ratio})
    ratio = statistics.median(ratios)
    ours_rps = statistics.median(r["ours"]["requests_per_s"] for r in rounds)
    bare_rps = statistics.median(r["bare"]["requests_per_s"] for r in rounds)
    clean = all(r["ours"]["failures"] == 0 and r["bare"]["failures"] == 0 for r in rounds)
    outcome.figures.append(
        Figure(
            "2 overhead",
            "ours req/s / bare FastAPI req/s (non-streamed /v1/completions, zero delay)",
            ratio,
            "x",
            ">= 0.6",
            ratio >= 0.6 and clean,
            f"median of {repeats} alternating rounds of {duration_s:g} s at {users} users: "
            f"ours {ours_rps:.0f} req/s, bare {bare_rps:.0f} req/s; "
            f"round ratios {', '.join(f'{r:.2f}' for r in ratios)}",
        )
    )
    outcome.details["overhead"] = {"rounds": rounds}


def bench_streaming(outcome: Outcome, work: Path, requests_per_user: int) -> None:
    stream_ms = engine_time_ms(STREAM_TTFT_MS, STREAM_ITL_MS, STREAM_TOKENS)
    common = ["--mode", "completions", "--stream", "--users", str(STREAM_USERS)]
    common += ["--max-tokens", str(STREAM_TOKENS), "--timeout", "120", "--warmup", "1"]
    # Steady state: users start spread over one stream's length, so 32 streams run at
    # once and each new stream arrives while the others are mid-flight.
    steady = [*common, "--requests", str(requests_per_user), "--ramp-up", f"{stream_ms / 1000:g}"]
    # Burst: all 32 arrive in the same instant (informational: queueing of arrivals).
    burst = [*common, "--requests", "1"]
    settings = {
        "simulated_ttft_ms": STREAM_TTFT_MS,
        "simulated_itl_ms": STREAM_ITL_MS,
        "simulated_max_batch": 64,
        "max_concurrent_requests": 64,
        "max_queued_requests": 64,
    }
    with ours("ours-streaming", work, **settings) as server:
        (run,) = run_load(outcome, server, steady, work, "streaming")
        (burst_run,) = run_load(outcome, server, burst, work, "streaming-burst")
    ok = run["successes"] == STREAM_USERS * requests_per_user
    itl_ratio = (run["itl"]["p99_ms"] or float("inf")) / STREAM_ITL_MS
    ttft_over = (run["ttft"]["p99_ms"] or float("inf")) - STREAM_TTFT_MS
    outcome.figures.append(
        Figure(
            "3 streaming",
            f"inter-token latency p99 / {STREAM_ITL_MS:g} ms",
            itl_ratio,
            "x",
            "<= 1.1",
            itl_ratio <= 1.1 and ok,
            f"{STREAM_USERS} concurrent streams x {STREAM_TOKENS} tokens, {requests_per_user} "
            f"per user; ITL p50 {run['itl']['p50_ms']:.2f} ms, p90 "
            f"{run['itl']['p90_ms']:.2f} ms, p99 {run['itl']['p99_ms']:.2f} ms over "
            f"{run['itl']['count']} gaps",
        )
    )
    outcome.figures.append(
        Figure(
            "3 streaming",
            f"TTFT p99 overhead over the configured {STREAM_TTFT_MS:g} ms",
            ttft_over,
            "ms",
            "<= 5",
            ttft_over <= 5 and ok,
            f"TTFT p50 {run['ttft']['p50_ms']:.1f} ms, p99 {run['ttft']['p99_ms']:.1f} ms "
            f"over {run['ttft']['count']} streams",
        )
    )
    outcome.figures.append(
        Figure(
            "3 streaming",
            f"burst: TTFT p99 overhead when all {STREAM_USERS} streams arrive at once",
            (burst_run["ttft"]["p99_ms"] or float("inf")) - STREAM_TTFT_MS,
            "ms",
            "(reference)",
            None,
            f"TTFT p50 {burst_run['ttft']['p50_ms']:.1f} ms, p99 "
            f"{burst_run['ttft']['p99_ms']:.1f} ms; ITL p99 {burst_run['itl']['p99_ms']:.2f} ms",
        )
    )
    outcome.details["streaming"] = run
    outcome.details["streaming_burst"] = burst_run


def bench_backpressure(outcome: Outcome, work: Path, duration_s: float) -> None:
    capacity = BACKPRESSURE_CONCURRENT + BACKPRESSURE_QUEUED
    users = BACKPRESSURE_FACTOR * capacity
    settings = {
        "simulated_ttft_ms": 50,
        "simulated_itl_ms": 10,
        "simulated_max_batch": BACKPRESSURE_CONCURRENT,
        "max_concurrent_requests": BACKPRESSURE_CONCURRENT,
        "max_queued_requests": BACKPRESSURE_QUEUED,
    }
    args = [
        "--mode",
        "completions",
        "--users",
        str(users),
        "--duration",
        str(duration_s),
        "--max-tokens",
        "16",
        "--timeout",
        "30",
    ]
    with ours("ours-backpressure", work, **settings) as server:
        with HealthPoller(server.base_url + server.health_path) as poller:
            (run,) = run_load(outcome, server, args, work, "backpressure")
        health = poller.summary()
    statuses = run["by_status"]
    only_200_429 = set(statuses) <= {"200", "429"}
    engaged = statuses.get("429", 0) > 0 and statuses.get("200", 0) > 0
    passed = (
        only_200_429
        and engaged
        and run["timeouts"] == 0
        and run["rejected_without_retry_after"] == 0
        and health["all_200"]
    )
    outcome.figures.append(
        Figure(
            "4 back-pressure",
            f"{users} clients vs {BACKPRESSURE_CONCURRENT} running + {BACKPRESSURE_QUEUED} "
            "queued: responses 200/429 (Retry-After), no timeouts, ready stays 200",
            None,
            "",
            "all hold",
            passed,
            f"responses {statuses}; 429 without Retry-After "
            f"{run['rejected_without_retry_after']}; timeouts {run['timeouts']}; "
            f"/health/ready {health['by_status']} over {health['polls']} polls, worst "
            f"{health['max_ms'] or 0:.0f} ms",
        )
    )
    outcome.details["backpressure"] = {"run": run, "health": health}


def sweep_plot(outcome: Outcome, work: Path, plot: Path, requests_per_user: int) -> None:
    settings = {
        "simulated_ttft_ms": CONCURRENCY_TTFT_MS,
        "simulated_itl_ms": CONCURRENCY_ITL_MS,
        "simulated_max_batch": 64,
        "max_concurrent_requests": 64,
        "max_queued_requests": 256,
    }
    engine_ms = engine_time_ms(CONCURRENCY_TTFT_MS, CONCURRENCY_ITL_MS, CONCURRENCY_TOKENS)
    args = [
        "--stream",
        "--concurrency",
        "1,8,32,64",
        "--requests",
        str(requests_per_user),
        "--max-tokens",
        str(CONCURRENCY_TOKENS),
        "--plot",
        str(plot),
        "--label",
        f"simulated engine, {engine_ms:.0f} ms per request",
    ]
    with ours("ours-sweep", work, **settings) as server:
        outcome.details["sweep"] = run_load(outcome, server, args, work, "sweep")


def bench_clock(outcome: Outcome) -> None:
    """How closely the simulated engine keeps its ITL, in this process, no server."""
    from service.engines.base import GenerationRequest
    from service.engines.simulated import SimulatedEngine

    async def arrivals() -> list[float]:
        engine = SimulatedEngine(itl_s=CLOCK_ITL_MS / 1000)
        request = GenerationRequest("clock", "clock", CLOCK_TOKENS, 1.0, 1.0)
        return [time.monotonic() async for _ in engine.stream(request)]

    times = asyncio.run(arrivals())
    errors_ms = [abs((b - a) * 1000 - CLOCK_ITL_MS) for a, b in itertools.pairwise(times)]
    median = percentile(errors_ms, 50)
    outcome.figures.append(
        Figure(
            "5 clock",
            f"simulated engine: median |gap - ITL| at ITL {CLOCK_ITL_MS:g} ms",
            median,
            "ms",
            "<= 0.25",
            median <= 0.25,
            f"{len(errors_ms)} gaps; p99 {percentile(errors_ms, 99):.3f} ms, "
            f"max {max(errors_ms):.3f} ms (the event loop's own timers count whole ms)",
        )
    )


def bench_efficiency(outcome: Outcome, out: Path) -> None:
    """Server CPU per streamed token, ours vs the bare FastAPI SSE endpoint, and the
    64-stream burst (benchmarks/efficiency.py; its --device mode has the many-core
    points)."""
    from benchmarks import efficiency

    result = efficiency.run(efficiency.parse_args([]))
    # RESULTS.md's efficiency section reads it from there, beside the device run's.
    out.mkdir(parents=True, exist_ok=True)
    (out / "efficiency_results.json").write_text(json.dumps(result, indent=2) + "\n")
    by = {(p["server"], p["streams"]): p for p in result["points"]}
    for streams in result["streams"]:
        mine, bare = by[("ours", streams)], by[("bare", streams)]
        ratio = mine["cpu_us_per_token"] / bare["cpu_us_per_token"]
        outcome.figures.append(
            Figure(
                "6 efficiency",
                f"{streams} streams x {result['tokens']} tokens at {result['itl_ms']:g} ms: "
                "server CPU per token, ours / bare FastAPI SSE",
                ratio,
                "x",
                "<= 0.5",
                ratio <= 0.5 and mine["failed"] == 0,
                f"ours {mine['cpu_us_per_token']:.1f} us/token, {mine['tokens_per_s']:.0f} tok/s, "
                f"ITL p50 {mine['itl_p50_ms']:.1f} / p99 {mine['itl_p99_ms']:.1f} ms; bare "
                f"{bare['cpu_us_per_token']:.1f} us/token, {bare['tokens_per_s']:.0f} tok/s, "
                f"ITL p99 {bare['itl_p99_ms']:.1f} ms (client and server share this machine's "
                "cores)",
            )
        )
    burst = result["burst"]
    outcome.figures.append(
        Figure(
            "6 efficiency",
            "64 x 30-token streams at 5 ms: wall(64) / wall(1)",
            burst["ratio"],
            "x",
            "<= 1.10",
            burst["ratio"] <= 1.10,
            f"median of 5: {burst['wall_64_ms']:.0f} ms vs {burst['wall_1_ms']:.0f} ms",
        )
    )


BENCHMARKS: dict[str, Callable[[Outcome, Path, argparse.Namespace], None]] = {
    "concurrency": lambda o, w, a: bench_concurrency(o, w, a.repeats),
    "overhead": lambda o, w, a: bench_overhead(o, w, a.repeats, a.duration),
    "streaming": lambda o, w, a: bench_streaming(o, w, a.stream_requests),
    "backpressure": lambda o, w, a: bench_backpressure(o, w, a.duration),
    "sweep": lambda o, w, a: sweep_plot(o, w, a.out / "concurrency.png", a.sweep_requests),
    "clock": lambda o, w, a: bench_clock(o),
    "efficiency": lambda o, w, a: bench_efficiency(o, a.out),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of benchmarks 1 and 2")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed round")
    parser.add_argument("--stream-requests", type=int, default=3, help="streams per user")
    parser.add_argument("--sweep-requests", type=int, default=4, help="requests per user")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run only these"
    )
    args = parser.parse_args(argv)
    for flag in ("repeats", "duration", "stream_requests", "sweep_requests"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')}: must be > 0")
    outcome = Outcome()
    info = machine.describe()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        for name in args.only or list(BENCHMARKS):
            print(f"[bench] {name} ...", flush=True)
            already = len(outcome.figures)
            BENCHMARKS[name](outcome, work, args)
            for figure in outcome.figures[already:]:
                print(f"  {figure.name}: {_value(figure)} ({figure.target})", flush=True)
    info["load_average_at_end"] = machine.load_average()
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    document = {
        "started": started,
        "command": command.strip(),
        "machine": info,
        "figures": [asdict(f) for f in outcome.figures],
        "load_commands": outcome.commands,
        "details": outcome.details,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    gpu_file = args.out / "gpu_results.json"
    gpu = json.loads(gpu_file.read_text()) if gpu_file.exists() else None
    hostile_file = args.out / "hostile_results.json"
    hostile = json.loads(hostile_file.read_text()) if hostile_file.exists() else None
    efficiency = load_efficiency(args.out)
    (args.out / "RESULTS.md").write_text(render_markdown(document, gpu, hostile, efficiency))
    failed = [f for f in outcome.figures if f.passed is False]
    for figure in outcome.figures:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[figure.passed]
        print(f"{verdict:4}  {figure.benchmark:16} {figure.name}: {_value(figure)}")
    return 1 if failed else 0


def _value(figure: Figure) -> str:
    return "-" if figure.value is None else f"{figure.value:.3f} {figure.unit}".strip()


if __name__ == "__main__":
    sys.exit(main())
