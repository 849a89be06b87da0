"""Render benchmarks/RESULTS.md from the runner's results (and the GPU run's, if any)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VERDICT = {True: "**pass**", False: "**FAIL**", None: "reference"}


def _value(figure: Mapping[str, Any]) -> str:
    value = figure["value"]
    if value is None:
        return "-"
    return f"{value:.3f} {figure['unit']}".strip()


def render_markdown(
    document: Mapping[str, Any],
    gpu: Mapping[str, Any] | None,
    hostile: Mapping[str, Any] | None = None,
) -> str:
    m = document["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Produced by one command from the repository root; rerun it to refresh this file,",
        "`results.json` (every figure and raw run) and `concurrency.png`:",
        "",
        "```",
        "python -m benchmarks.run",
        "```",
        "",
        f"This run: `{document['command']}`, started {document['started']}.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; {m['platform']}",
        f"- load average at start / end: {m['load_average_at_start']} / "
        f"{m.get('load_average_at_end', '?')}",
        f"- Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v != "not installed"),
        "",
        "## Figures against targets",
        "",
        "| benchmark | figure | value | target | result | detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in document["figures"]:
        lines.append(
            f"| {f['benchmark']} | {f['name']} | {_value(f)} | {f['target']} | "
            f"{VERDICT[f['passed']]} | {f['note']} |"
        )
    lines += [
        "",
        "## How each figure is measured",
        "",
        "Every server runs as its own process on a free 127.0.0.1 port, and the load",
        "generator (`python -m benchmarks.load`, aiohttp) runs as another process, so the",
        "client's CPU time is never charged to a server's event loop and every server is",
        "measured by the same client. On a 2-core machine client and server still share",
        "the cores: figures from a busy machine are pessimistic, never flattering.",
        "",
        "1. **Concurrency**: 64 users each open a connection with one uncounted warm-up",
        "   request, then send one `/generate` request together; the simulated engine takes",
        "   TTFT 20 ms + 18 x 10 ms = 200 ms per request and batches 64",
        "   (`SIMULATED_MAX_BATCH=64`, `MAX_CONCURRENT_REQUESTS=64`). Figure: wall time from",
        "   the release of the 64 requests to the last response / 200 ms (median of the",
        "   rounds). For reference, the same load against `benchmarks/bare_server.py`'s",
        "   `/generate` (a FastAPI route that awaits 200 ms: the floor this client and",
        "   machine allow) and against `benchmarks/guide_server.py` (the guide's design: an",
        "   async route calling a blocking 200 ms `generate`; no warm-up, since its idle",
        "   keep-alive connections would be closed while it serves others one by one). A",
        "   thread polls each server's health route every 50 ms (2 s timeout) meanwhile.",
        "2. **Overhead**: non-streamed `/v1/completions` (16 tokens, zero engine delay) at",
        "   32 users for a fixed duration, ours vs `benchmarks/bare_server.py` (a bare",
        "   FastAPI + uvicorn route that parses the JSON request and returns the very body",
        "   our server produced); rounds alternate between the two. Both run with log",
        "   level warning, so neither writes per-request logs.",
        "3. **Streaming**: 32 users stream 256 tokens each at ITL 10 ms (TTFT 50 ms), their",
        "   starts spread over one stream's length (`--ramp-up 2.6`) so 32 streams run at",
        "   once and each arrives while the others stream; gaps are measured at the client",
        "   between SSE events that carry text. The burst row sends all 32 at one instant.",
        "4. **Back-pressure**: `MAX_CONCURRENT_REQUESTS=4`, `MAX_QUEUED_REQUESTS=8`, 48",
        "   closed-loop clients (4x the 12 the server admits) for a fixed duration, while",
        "   a thread polls `/health/ready` every 50 ms.",
        "5. **Clock**: the simulated engine alone, in the benchmark's own process, streams",
        "   200 tokens at ITL 10 ms; figure: the median distance of each gap from 10 ms.",
        "   Every engine time above assumes this precision.",
        "",
        "## Load generator commands used",
        "",
        "```",
        *document["load_commands"],
        "```",
        "",
        "## Concurrency sweep",
        "",
        "![latency and throughput vs concurrency](concurrency.png)",
        "",
    ]
    sweep = document.get("details", {}).get("sweep")
    if sweep:
        lines += [
            "| users | ok/total | e2e p50 ms | e2e p99 ms | TTFT p99 ms | req/s | tokens/s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in sweep:
            lines.append(
                f"| {run['concurrency']} | {run['successes']}/{run['requests']} | "
                f"{run['e2e']['p50_ms']:.1f} | {run['e2e']['p99_ms']:.1f} | "
                f"{run['ttft']['p99_ms']:.1f} | {run['requests_per_s']:.1f} | "
                f"{run['output_tokens_per_s']:.0f} |"
            )
        lines.append("")
    lines += render_gpu(gpu)
    lines += render_hostile(hostile)
    return "\n".join(lines) + "\n"


def render_hostile(hostile: Mapping[str, Any] | None) -> list[str]:
    lines = ["", "## Hostile and careless clients", ""]
    if hostile is None:
        return [
            *lines,
            "Not measured in this run: `benchmarks/hostile_results.json` is absent. Produce",
            "it with `python -m benchmarks.hostile` (a few minutes, CPU only).",
        ]
    targets = hostile["targets"]
    lines += [
        f"Command: `{hostile['command'].strip()}`, started {hostile['started']}. One server",
        "process (simulated engine, default limits; server env "
        f"`{' '.join(f'{k}={v}' for k, v in hostile['server_env'].items())}`), one attack at a",
        "time, /health/live probed on a fresh connection every 100 ms throughout. Targets:",
        f"every abusive input answered in < {targets['answer_s']:g} s, RSS growth < "
        f"{targets['rss_growth_mb']:g} MB, probes < {targets['probe_ms']:g} ms, no 5xx. Load "
        "average of the shared 2-core machine at the end: "
        f"{hostile.get('load_average_at_end', '?')}.",
        "",
        "| attack | statuses | slowest answer | RSS growth | worst probe | result | detail |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for attack in hostile["attacks"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(attack["statuses"].items()))
        answer = f"{attack['slowest_answer_s'] * 1000:.0f} ms" if attack["timed_answers"] else "-"
        probe = f"{attack['worst_probe_ms']:.0f} ms"
        if attack["probe_failures"]:
            probe += f" ({attack['probe_failures']} failed)"
        lines.append(
            f"| {attack['name']} | {statuses} | {answer} | {attack['rss_growth_mb']:.1f} MB | "
            f"{probe} | {'**pass**' if attack['passed'] else '**FAIL**'} | {attack['note']} |"
        )
    return lines


def render_gpu(gpu: Mapping[str, Any] | None) -> list[str]:
    lines = ["## On a GPU (transformers engine)", ""]
    if gpu is None:
        lines += [
            "Not measured in this run: `benchmarks/gpu_results.json` is absent. Produce it on",
            "a CUDA machine with `python -m benchmarks.gpu --out benchmarks/gpu_results.json`",
            "and rerun `python -m benchmarks.run` to include it here.",
            "",
        ]
        return lines
    env = gpu["environment"]
    model = gpu["model"]
    lines += [
        f"Command: `{gpu['command']}` on {env.get('gpu', '?')} (driver "
        f"{env.get('driver', '?')}), torch {env.get('torch', '?')}, transformers "
        f"{env.get('transformers', '?')}, Python {env.get('python', '?')}.",
        "",
        f"Model: random-weight Llama, {model['parameters'] / 1e6:.0f} M parameters "
        f"({model['layers']} layers, hidden {model['hidden_size']}, dtype "
        f"{model['dtype']}), byte-level BPE tokenizer trained on the spot.",
        "",
        "| path | concurrency | requests | output tokens/s | TTFT p50 ms | TTFT p99 ms | "
        "e2e p50 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in gpu["rows"]:
        lines.append(
            f"| {row['path']} | {row['concurrency']} | {row['requests']} | "
            f"{row['output_tokens_per_s']:.1f} | {row['ttft_p50_ms']:.1f} | "
            f"{row['ttft_p99_ms']:.1f} | {row['e2e_p50_ms']:.1f} |"
        )
    ref = gpu.get("hf_generate_reference")
    lines += ["", "Server vs direct, per concurrency:", "", *gpu.get("notes", []), ""]
    if ref:
        lines += [
            f"Reference outside our engine: plain `model.generate()` on one sequence ran at "
            f"{ref['tokens_per_s']:.1f} tokens/s (one forward pass of the prompt "
            f"{ref['forward_ms']:.1f} ms) on the main thread. The engine decodes on a "
            "worker thread, since the event loop owns the main one; a diagnostic on one of "
            "these machines ran a bare torch greedy loop at 119.8 tokens/s on the main "
            "thread and 20.6 in a worker thread, so the single-stream gap to `generate()` "
            "is torch's, not HTTP's, and varies from machine to machine. Concurrent "
            "requests share one batched forward pass (continuous batching).",
            "",
        ]
    return lines
