"""Command line: `python -m benchmarks.load --help`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks.load.client import MODES
from benchmarks.load.measure import Summary, summarize
from benchmarks.load.prompts import BUILT_IN, PromptFileError, load_prompts
from benchmarks.load.report import plot_sweep, print_report, report_document, write_json
from benchmarks.load.runner import LoadConfig, LoadRun

EXIT_FAILED_REQUESTS = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description="Load an OpenAI-compatible inference server and report latency "
        "percentiles, time to first token, inter-token latency and throughput.",
        epilog="Exit status: 0 every request succeeded (or --allow-failures), "
        f"{EXIT_FAILED_REQUESTS} some failed (a summary goes to stderr), 2 bad arguments, "
        f"{EXIT_INTERRUPTED} interrupted.",
    )
    p.add_argument(
        "--base-url", default="http://127.0.0.1:8000", help="server root URL (default: %(default)s)"
    )
    p.add_argument(
        "--mode", choices=MODES, default="completions", help="API to call (default: %(default)s)"
    )
    p.add_argument("--stream", action="store_true", help="stream responses (SSE)")
    p.add_argument("--model", help="model name to send (default: first of /v1/models)")
    p.add_argument(
        "--max-tokens", type=int, default=64, help="max_tokens per request (default: %(default)s)"
    )
    p.add_argument("--prompts", type=Path, help="prompt file: .jsonl or one prompt a line")
    p.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="bearer token (default: $OPENAI_API_KEY)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="per-request timeout, seconds (default: %(default)s)",
    )
    closed = p.add_argument_group("closed loop (default)")
    closed.add_argument(
        "--users", type=int, default=1, help="concurrent users (default: %(default)s)"
    )
    closed.add_argument("--requests", type=int, help="requests per user (default: 1)")
    closed.add_argument("--concurrency", help="sweep: comma-separated user counts, e.g. 1,8,32,64")
    closed.add_argument(
        "--ramp-up",
        type=float,
        default=0.0,
        help="seconds over which users start, evenly spread (default: 0, all at once)",
    )
    opened = p.add_argument_group("open loop")
    opened.add_argument("--rate", type=float, help="requests/s, Poisson arrivals")
    opened.add_argument("--num-requests", type=int, help="stop after this many requests")
    p.add_argument("--duration", type=float, help="stop sending after this many seconds")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for open-loop arrivals (default: %(default)s)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="uncounted requests per user first (opens connections); then all users start "
        "together (default: %(default)s)",
    )
    p.add_argument("--json", type=Path, help="write the report as JSON to this file")
    p.add_argument("--plot", type=Path, help="with --concurrency: write a PNG plot")
    p.add_argument("--label", default="", help="title for the table and plot")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even when requests fail (overload tests that expect 429s)",
    )
    return p


def parse_concurrency(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--concurrency: expected integers like 1,8,32, got {text!r}") from None
    if not levels or any(level < 1 for level in levels):
        raise ValueError(f"--concurrency: levels must be >= 1, got {text!r}")
    return levels


def config_from_args(args: argparse.Namespace) -> tuple[LoadConfig, list[int] | None]:
    """Validate arguments; errors are ValueErrors naming the flag."""
    positive = {
        "--max-tokens": args.max_tokens,
        "--timeout": args.timeout,
        "--users": args.users,
        "--requests": args.requests,
        "--rate": args.rate,
        "--num-requests": args.num_requests,
        "--duration": args.duration,
    }
    if args.warmup < 0:
        raise ValueError(f"--warmup: must be >= 0, got {args.warmup}")
    if args.ramp_up < 0:
        raise ValueError(f"--ramp-up: must be >= 0, got {args.ramp_up}")
    for flag, value in positive.items():
        if value is not None and value <= 0:
            raise ValueError(f"{flag}: must be > 0, got {value}")
    if not args.base_url.startswith(("http://", "https://")):
        raise ValueError(f"--base-url: expected http:// or https://, got {args.base_url!r}")
    levels = parse_concurrency(args.concurrency) if args.concurrency else None
    if args.rate is not None:
        if levels is not None or args.requests is not None:
            raise ValueError("--rate (open loop) cannot be combined with --concurrency/--requests")
        if args.num_requests is None and args.duration is None:
            raise ValueError("--rate needs a bound: --num-requests and/or --duration")
    elif args.num_requests is not None:
        raise ValueError("--num-requests applies to open loop only (use with --rate)")
    if args.plot is not None and levels is None:
        raise ValueError("--plot needs a sweep: add --concurrency 1,8,32,64")
    requests = args.requests
    if requests is None and args.duration is None:
        requests = 1
    prompts = load_prompts(args.prompts) if args.prompts else list(BUILT_IN)
    config = LoadConfig(
        base_url=args.base_url.rstrip("/"),
        mode=args.mode,
        stream=args.stream,
        max_tokens=args.max_tokens,
        prompts=prompts,
        timeout_s=args.timeout,
        api_key=args.api_key,
        model=args.model,
        users=args.users,
        requests_per_user=requests,
        rate=args.rate,
        num_requests=args.num_requests,
        duration_s=args.duration,
        seed=args.seed,
        warmup_per_user=args.warmup,
        ramp_up_s=args.ramp_up,
    )
    return config, levels


async def run_one(config: LoadConfig, label: str, concurrency: int | None, quiet: bool) -> Summary:
    """One bounded run with a progress bar; SIGINT stops it and keeps what finished."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]} fail {task.fields[fail]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    )
    task = progress.add_task(label, total=config.expected_requests, ok=0, fail=0)
    counts = {"ok": 0, "fail": 0}

    def on_result(result: object) -> None:
        counts["ok" if getattr(result, "ok", False) else "fail"] += 1
        progress.update(task, advance=1, **counts)

    run = LoadRun(config, on_result=on_result)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, run.stop)
    try:
        with progress:
            outcome = await run.execute()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return summarize(
        outcome.results,
        outcome.wall_s,
        label=label,
        concurrency=concurrency,
        interrupted=outcome.interrupted,
    )


async def run_all(
    config: LoadConfig, levels: list[int] | None, label: str, quiet: bool
) -> list[Summary]:
    if levels is None:
        users = None if config.rate is not None else config.users
        return [await run_one(config, label or _describe(config), users, quiet)]
    summaries: list[Summary] = []
    for level in levels:
        summary = await run_one(
            replace(config, users=level), f"{label or _mode(config)} c={level}", level, quiet
        )
        summaries.append(summary)
        if summary.interrupted:
            break
    return summaries


def _mode(config: LoadConfig) -> str:
    return f"{config.mode}{' stream' if config.stream else ''}"


def _describe(config: LoadConfig) -> str:
    shape = f"rate {config.rate:g}/s" if config.rate is not None else f"{config.users} users"
    return f"{_mode(config)} {shape}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config, levels = config_from_args(args)
    except (ValueError, PromptFileError) as exc:
        parser.error(str(exc))
    summaries = asyncio.run(run_all(config, levels, args.label, args.quiet))
    console = Console()
    print_report(console, summaries)
    if args.json is not None:
        settings = asdict(config)
        settings.pop("api_key")
        settings["prompts"] = len(config.prompts)
        settings["concurrency"] = levels
        write_json(args.json, report_document(summaries, settings))
    if args.plot is not None:
        plot_sweep(args.plot, summaries, args.label)
    if any(s.interrupted for s in summaries):
        console.print("[yellow]interrupted: the figures cover requests that finished[/]")
        return EXIT_INTERRUPTED
    failed = failure_summary(summaries)
    if failed:
        print(failed, file=sys.stderr)
        if not args.allow_failures:
            return EXIT_FAILED_REQUESTS
    return 0


def failure_summary(summaries: Sequence[Summary]) -> str | None:
    """One line on what failed, or None when every request succeeded."""
    failures = sum(s.failures for s in summaries)
    if failures == 0:
        return None
    requests = sum(s.requests for s in summaries)
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for summary in summaries:
        for key, count in summary.by_status.items():
            if not key.startswith("2"):
                statuses[key] = statuses.get(key, 0) + count
        for message, count in summary.errors.items():
            errors[message] = errors.get(message, 0) + count
    by_status = ", ".join(f"{key}: {count}" for key, count in sorted(statuses.items()))
    line = f"error: {failures} of {requests} requests failed ({by_status or 'no HTTP status'})"
    if errors:
        message, count = max(errors.items(), key=lambda item: item[1])
        line += f"; most common error ({count}x): {message}"
    return line


if __name__ == "__main__":
    sys.exit(main())
