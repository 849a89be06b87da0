"""Streaming efficiency: what each streamed token costs the server, ours vs bare FastAPI.

    python -m benchmarks.efficiency                       # dev machine: 128, 256 streams
    python -m benchmarks.efficiency --device              # many-core host: up to 2048

N streams x `--tokens` tokens at `--itl-ms` each, all started at once, against our
server (simulated engine) and against the bare FastAPI SSE endpoint
(benchmarks/bare_server.py), in the same run. Per point it prints tokens/s, server CPU
microseconds per token (user + system time from /proc/<pid>/stat over the run, so
the client's CPU never counts), and inter-token latency p50/p99 as the clients saw it.
Also the 64 x 30-token burst at 5 ms: wall(64) / wall(1).

With --device the server is pinned to core 0 and the clients (`--clients` processes,
aiohttp) to the other cores, as the many-core figures need: one server process,
nothing else on its core. On a 2-core machine nothing is pinned and client and server
share the cores, so those figures are upper bounds on our cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.load.measure import percentile
from benchmarks.servers import REPO, Server, serve

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/pid/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# ---------------------------------------------------------------- client process


async def _stream(
    session: Any, url: str, body: bytes, itl_s: float, gaps: list[float], lags: list[float]
) -> int:
    """One stream; appends its inter-event gaps (ms) and each token's lag (ms): how much
    later than the engine's schedule (one token per ITL, set by the stream's most
    punctual token) it arrived, which stays comparable when events carry several
    tokens; returns the tokens it carried."""
    tokens = 0
    last: float | None = None
    # Per token: its arrival minus index x ITL; equal for all on a punctual stream.
    offsets: list[float] = []
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        if resp.status != 200:
            return -1
        buffer = b""
        async for data in resp.content.iter_any():
            now = time.perf_counter()
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            carried = 0
            for event in events:
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                chunk = json.loads(event[6:])
                for choice in chunk.get("choices") or ():
                    if choice.get("text"):
                        # Several tokens may travel in one event: count words.
                        carried += max(1, choice["text"].count(" "))
            if carried:
                if last is not None:
                    gaps.append((now - last) * 1000)
                last = now
                offsets.extend(now - index * itl_s for index in range(tokens, tokens + carried))
                tokens += carried
    if offsets:
        punctual = min(offsets)
        lags.extend((offset - punctual) * 1000 for offset in offsets)
    return tokens


async def _client(
    url: str, streams: int, tokens: int, itl_ms: float, model: str | None
) -> dict[str, Any]:
    import aiohttp

    payload: dict[str, Any] = {"prompt": "hi", "max_tokens": tokens, "stream": True}
    if model:
        payload["model"] = model
    body = json.dumps(payload).encode()
    gaps: list[float] = []
    lags: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(_stream(session, url, body, itl_ms / 1000, gaps, lags) for _ in range(streams)),
            return_exceptions=True,
        )
        wall = time.perf_counter() - start
    ok = [c for c in counts if isinstance(c, int) and c >= 0]
    return {
        "tokens": sum(ok),
        "failed": streams - len(ok),
        "wall_s": wall,
        "gaps_ms": gaps,
        "lags_ms": lags,
    }


def client_main(argv: Sequence[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--itl-ms", type=float, required=True)
    p.add_argument("--model")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_client(a.url, a.streams, a.tokens, a.itl_ms, a.model))
    a.out.write_text(json.dumps(result))


# ---------------------------------------------------------------- runner


def _pin(pid: int, cores: set[int]) -> None:
    if cores:
        try:
            os.sched_setaffinity(pid, cores)
        except OSError as error:  # a sandboxed kernel may refuse; the figures say "pinned"
            print(f"could not pin {pid}: {error}", file=sys.stderr)


def measure(
    server: Server,
    streams: int,
    tokens: int,
    clients: int,
    client_cores: set[int],
    work: Path,
    itl_ms: float,
) -> dict[str, Any]:
    """Run `streams` streams over `clients` processes; the server's CPU and the clients' view."""
    clients = max(1, min(clients, streams))
    shares = [streams // clients + (i < streams % clients) for i in range(clients)]
    model = _model(server)
    procs = []
    outs = []
    cpu_before = cpu_seconds(server.process.pid)
    start = time.perf_counter()
    for i, share in enumerate(shares):
        out = work / f"client-{server.name}-{streams}-{i}.json"
        outs.append(out)
        cmd = [sys.executable, "-m", "benchmarks.efficiency", "client", "--url",
               server.base_url + "/v1/completions", "--streams", str(share), "--tokens",
               str(tokens), "--itl-ms", str(itl_ms), "--out", str(out)]  # fmt: skip
        if model:
            cmd += ["--model", model]
        proc = subprocess.Popen(cmd, cwd=REPO)
        _pin(proc.pid, client_cores)
        procs.append(proc)
    for proc in procs:
        proc.wait(timeout=900)
    wall = time.perf_counter() - start
    cpu = cpu_seconds(server.process.pid) - cpu_before
    results = [json.loads(out.read_text()) for out in outs]
    total = sum(r["tokens"] for r in results)
    gaps = [g for r in results for g in r["gaps_ms"]]
    lags = [lag for r in results for lag in r["lags_ms"]]
    client_wall = max(r["wall_s"] for r in results)
    return {
        "streams": streams,
        "tokens": total,
        "failed": sum(r["failed"] for r in results),
        "wall_s": client_wall,
        "tokens_per_s": total / client_wall,
        "cpu_s": cpu,
        "cpu_us_per_token": cpu / max(total, 1) * 1e6,
        "server_cpu_share": cpu / wall,
        "itl_p50_ms": percentile(gaps, 50) if gaps else None,
        "itl_p99_ms": percentile(gaps, 99) if gaps else None,
        "events": len(gaps) + streams,
        "lag_p50_ms": percentile(lags, 50) if lags else None,
        "lag_p99_ms": percentile(lags, 99) if lags else None,
    }


def _model(server: Server) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(server.base_url + "/v1/models", timeout=10) as resp:
            return str(json.loads(resp.read())["data"][0]["id"])
    except OSError:
        return None  # the bare server has no model list and takes any name


def ours(name: str, work: Path, itl_ms: float, batch: int, engine: str = "simulated"):  # type: ignore[no-untyped-def]
    env = {
        "ENGINE": engine,
        "LOG_LEVEL": "warning",
        "SIMULATED_TTFT_MS": "0",
        "SIMULATED_ITL_MS": str(itl_ms),
        "SIMULATED_MAX_BATCH": str(batch),
        "MAX_CONCURRENT_REQUESTS": str(batch),
        "MAX_QUEUED_REQUESTS": str(batch),
        "MAX_CONNECTIONS": str(batch + 64),
    }
    return serve(name, ["-m", "service"], env=env, health_path="/health/ready", log_dir=work)


def bare(name: str, work: Path, itl_ms: float):  # type: ignore[no-untyped-def]
    argv = ["-m", "benchmarks.bare_server", "--itl-ms", str(itl_ms)]
    return serve(name, argv, health_path="/health/ready", log_dir=work)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cores = sorted(os.sched_getaffinity(0))
    pinned = args.device and len(cores) > 2
    server_cores = {cores[0]} if pinned else set()
    client_cores = set(cores[1:]) if pinned else set()
    top = max(args.streams)
    points: list[dict[str, Any]] = []
    burst: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="efficiency-") as tmp:
        work = Path(tmp)
        for label, server_cm in (
            ("ours", ours("ours", work, args.itl_ms, top)),
            ("bare", bare("bare", work, args.itl_ms)),
        ):
            with server_cm as server:
                _pin(server.process.pid, server_cores)
                measure(server, 16, 20, 1, client_cores, work, args.itl_ms)  # warm up
                for streams in args.streams:
                    point = measure(
                        server, streams, args.tokens, args.clients, client_cores, work, args.itl_ms
                    )
                    point["server"] = label
                    points.append(point)
                    print(_row(point), flush=True)
        # The burst: 64 x 30 tokens at 5 ms, wall(64) / wall(1), median of rounds.
        with ours("ours-burst", work, 5.0, 64) as server:
            _pin(server.process.pid, server_cores)
            measure(server, 8, 5, 1, client_cores, work, 5.0)
            one = [measure(server, 1, 30, 1, client_cores, work, 5.0)["wall_s"] for _ in range(5)]
            many = [measure(server, 64, 30, 1, client_cores, work, 5.0)["wall_s"] for _ in range(5)]
        burst = {
            "wall_1_ms": statistics.median(one) * 1000,
            "wall_64_ms": statistics.median(many) * 1000,
            "ratio": statistics.median(many) / statistics.median(one),
        }
        print(
            f"burst 64 x 30 tokens at 5 ms: wall(64)/wall(1) = {burst['ratio']:.3f} "
            f"({burst['wall_64_ms']:.0f} / {burst['wall_1_ms']:.0f} ms; target <= 1.10)"
        )
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": "python -m benchmarks.efficiency"
        + (" --device" if args.device else "")
        + f" --streams {','.join(map(str, args.streams))}",
        "streams": args.streams,
        "machine": machine.describe(),
        "pinned": pinned,
        "clients": args.clients,
        "itl_ms": args.itl_ms,
        "tokens": args.tokens,
        "points": points,
        "burst": burst,
    }


def _row(p: dict[str, Any]) -> str:
    return (
        f"{p['server']:4} {p['streams']:5} streams: {p['tokens_per_s'] / 1000:6.1f}k tok/s, "
        f"{p['cpu_us_per_token']:5.1f} us/token, server CPU {p['server_cpu_share']:.2f}, "
        f"ITL p50 {p['itl_p50_ms'] or 0:.1f} / p99 {p['itl_p99_ms'] or 0:.1f} ms, "
        f"lag p50 {p['lag_p50_ms'] or 0:.1f} / p99 {p['lag_p99_ms'] or 0:.1f} ms, "
        # Above 1 when tokens ready together travel in one event (or one read).
        f"{p['tokens'] / max(p['events'], 1):.2f} tok/read"
        + (f", {p['failed']} failed" if p["failed"] else "")
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.efficiency", description=__doc__)
    p.add_argument("--device", action="store_true", help="many-core host: pin, 8 clients")
    p.add_argument("--streams", help="comma-separated stream counts")
    p.add_argument("--tokens", type=int, default=300)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--clients", type=int, help="client processes")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    a = p.parse_args(argv)
    default = "128,256,512,1024,2048" if a.device else "128,256"
    a.streams = [int(s) for s in (a.streams or default).split(",")]
    a.clients = a.clients or (8 if a.device else 1)
    return a


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["client"]:
        client_main(argv[1:])
        return 0
    a = parse_args(argv)
    result = run(a)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
