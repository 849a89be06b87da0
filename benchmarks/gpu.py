"""Server overhead on a real GPU: the transformers engine through our HTTP server vs
the same engine called directly, on a random-weight Llama built on the spot.

    python -m benchmarks.gpu --out benchmarks/gpu_results.json

Nothing is downloaded: the model (LlamaConfig, ~100 M parameters by default) gets
random weights and the tokenizer is a byte-level BPE trained here with `tokenizers`.
Both paths run the same requests (prompts, max_tokens, sampling defaults) at the same
concurrency; the server path uses the load generator in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.load.measure import percentile
from benchmarks.load.prompts import BUILT_IN
from benchmarks.servers import REPO, serve

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
SIZES: dict[str, dict[str, int]] = {
    # ~100 M parameters: 12 layers of 768 wide, like GPT-2 small.
    "small": {"hidden_size": 768, "intermediate_size": 2048, "layers": 12, "heads": 12},
    # For trying the script on a CPU in seconds.
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "layers": 2, "heads": 4},
}


def _corpus(lines: int = 20000) -> list[str]:
    """English-like text with enough distinct words for BPE to fill its vocabulary."""
    rng = random.Random(0)
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ou")]
    lexicon = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20000)
    ]
    lexicon += " ".join(BUILT_IN).split()
    return [" ".join(rng.choice(lexicon) for _ in range(12)) for _ in range(lines)]


def build_model(directory: Path, size: str, vocab_size: int = 8192) -> dict[str, Any]:
    """Write a random-weight Llama checkpoint and its tokenizer into `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_input_names=["input_ids", "attention_mask"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    dims = SIZES[size]
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=dims["hidden_size"],
        intermediate_size=dims["intermediate_size"],
        num_hidden_layers=dims["layers"],
        num_attention_heads=dims["heads"],
        num_key_value_heads=dims["heads"],
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype=dtype,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(directory)
    parameters = sum(p.numel() for p in model.parameters())
    return {
        "parameters": parameters,
        "layers": dims["layers"],
        "hidden_size": dims["hidden_size"],
        "vocab_size": len(tokenizer),
        "dtype": str(dtype).removeprefix("torch."),
    }


def environment() -> dict[str, Any]:
    import torch
    import transformers

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        try:
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
        except OSError:
            env["driver"] = "unknown"
    return env


def _row(
    path: str,
    concurrency: int,
    ttfts: list[float],
    e2es: list[float],
    tokens: int,
    wall_s: float,
    requests: int,
) -> dict[str, Any]:
    return {
        "path": path,
        "concurrency": concurrency,
        "requests": requests,
        "completed": len(e2es),
        "output_tokens": tokens,
        "output_tokens_per_s": tokens / wall_s if wall_s > 0 else 0.0,
        "ttft_p50_ms": percentile(ttfts, 50) * 1000 if ttfts else float("nan"),
        "ttft_p99_ms": percentile(ttfts, 99) * 1000 if ttfts else float("nan"),
        "e2e_p50_ms": percentile(e2es, 50) * 1000 if e2es else float("nan"),
        "wall_s": wall_s,
    }


def measure_hf_generate(model_dir: Path, max_tokens: int, repeats: int = 3) -> dict[str, Any]:
    """Reference: plain `model.generate()` on one sequence, outside our engine, and the
    time of one bare forward pass; says whether a slow figure is the engine's or torch's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").to(device).eval()
    ids = tokenizer(BUILT_IN[0], return_tensors="pt").to(device)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=8, do_sample=True)  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(20):
            model(**ids)
        sync()
        forward_ms = (time.perf_counter() - start) / 20 * 1000
        walls = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.generate(
                **ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=True
            )
            sync()
            walls.append(time.perf_counter() - start)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    wall = statistics.median(walls)
    return {"forward_ms": forward_ms, "tokens_per_s": max_tokens / wall, "wall_s": wall}


async def measure_direct(
    model_dir: Path, levels: Sequence[int], per_user: int, max_tokens: int
) -> list[dict[str, Any]]:
    """Call Engine.stream() in-process, exactly as the HTTP layer does, without HTTP."""
    from service.engines import create_engine
    from service.engines.base import GenerationRequest
    from service.settings import Settings

    engine = create_engine(Settings(engine="transformers", model_path=str(model_dir)))
    await engine.load()
    defaults = Settings(engine="transformers", model_path=str(model_dir))

    async def one(prompt: str) -> tuple[float | None, float, int]:
        request = GenerationRequest(
            request_id=uuid.uuid4().hex,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=defaults.temperature,
            top_p=defaults.top_p,
        )
        start = time.perf_counter()
        ttft: float | None = None
        tokens = 0
        async for chunk in engine.stream(request):
            if chunk.token_count and ttft is None:
                ttft = time.perf_counter() - start
            tokens += chunk.token_count
        return ttft, time.perf_counter() - start, tokens

    rows: list[dict[str, Any]] = []
    try:
        # Warm-up at the widest level: kernels, allocator, first-call paths, threads.
        await asyncio.gather(*(one(BUILT_IN[i % len(BUILT_IN)]) for i in range(max(levels))))
        for level in levels:
            results: list[tuple[float | None, float, int]] = []

            async def user(offset: int, sink: list[tuple[float | None, float, int]]) -> None:
                for i in range(per_user):
                    sink.append(await one(BUILT_IN[(offset + i) % len(BUILT_IN)]))

            start = time.perf_counter()
            await asyncio.gather(*(user(u, results) for u in range(level)))
            wall = time.perf_counter() - start
            print(f"[gpu] direct c={level}: {len(results)} requests in {wall:.1f}s", flush=True)
            rows.append(
                _row(
                    "direct (Engine.stream)",
                    level,
                    [r[0] for r in results if r[0] is not None],
                    [r[1] for r in results],
                    sum(r[2] for r in results),
                    wall,
                    level * per_user,
                )
            )
    finally:
        await engine.shutdown()
    return rows


def measure_server(
    model_dir: Path, levels: Sequence[int], per_user: int, max_tokens: int, work: Path
) -> list[dict[str, Any]]:
    env = {"ENGINE": "transformers", "MODEL_PATH": str(model_dir), "LOG_LEVEL": "warning"}
    rows: list[dict[str, Any]] = []
    with serve(
        "gpu-server",
        ["-m", "service"],
        env=env,
        health_path="/health/ready",
        log_dir=work,
        ready_timeout_s=300,
    ) as server:
        base = [sys.executable, "-m", "benchmarks.load", "--quiet", "--base-url", server.base_url]
        base += ["--stream", "--max-tokens", str(max_tokens), "--timeout", "300"]
        warm = [*base, "--users", str(max(levels)), "--requests", "1"]
        subprocess.run(warm, cwd=REPO, check=True, timeout=600, stdout=subprocess.DEVNULL)
        for level in levels:
            out = work / f"server-{level}.json"
            cmd = [*base, "--users", str(level), "--requests", str(per_user), "--json", str(out)]
            subprocess.run(cmd, cwd=REPO, check=True, timeout=600, stdout=subprocess.DEVNULL)
            (run,) = json.loads(out.read_text())["runs"]
            rows.append(
                {
                    "path": "server (HTTP, SSE)",
                    "concurrency": level,
                    "requests": run["requests"],
                    "completed": run["successes"],
                    "output_tokens": run["output_tokens"],
                    "output_tokens_per_s": run["output_tokens_per_s"],
                    "ttft_p50_ms": run["ttft"]["p50_ms"],
                    "ttft_p99_ms": run["ttft"]["p99_ms"],
                    "e2e_p50_ms": run["e2e"]["p50_ms"],
                    "wall_s": run["wall_s"],
                }
            )
    return rows


def overhead_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    direct = {r["concurrency"]: r for r in rows if r["path"].startswith("direct")}
    for r in rows:
        d = direct.get(r["concurrency"])
        if r["path"].startswith("server") and d and d["output_tokens_per_s"]:
            notes.append(
                f"- concurrency {r['concurrency']}: server tokens/s = "
                f"{r['output_tokens_per_s'] / d['output_tokens_per_s']:.3f} x direct; "
                f"TTFT p50 {r['ttft_p50_ms'] - d['ttft_p50_ms']:+.1f} ms vs direct."
            )
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("gpu_results.json"))
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated users")
    parser.add_argument("--requests", type=int, default=4, help="requests per user")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    try:
        model_dir = work / "model"
        began = time.perf_counter()
        model = build_model(model_dir, args.size)
        print(f"[gpu] {time.perf_counter() - began:.1f}s model built: {model}", flush=True)
        reference = measure_hf_generate(model_dir, args.max_tokens)
        print(f"[gpu] {time.perf_counter() - began:.1f}s model.generate: {reference}", flush=True)
        rows = asyncio.run(measure_direct(model_dir, levels, args.requests, args.max_tokens))
        print(f"[gpu] {time.perf_counter() - began:.1f}s direct done: {rows}", flush=True)
        rows += measure_server(model_dir, levels, args.requests, args.max_tokens, work)
        print(f"[gpu] {time.perf_counter() - began:.1f}s server done", flush=True)
        shown = " ".join(argv if argv is not None else sys.argv[1:])
        document = {
            "command": f"python -m benchmarks.gpu {shown}".strip(),
            "environment": environment(),
            "model": model,
            "max_tokens": args.max_tokens,
            "hf_generate_reference": reference,
            "rows": rows,
            "notes": overhead_notes(rows),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n")
        for row in rows:
            print(
                f"{row['path']:24} c={row['concurrency']:<3} {row['completed']}/{row['requests']} "
                f"tok/s {row['output_tokens_per_s']:9.1f}  TTFT p50 {row['ttft_p50_ms']:7.1f} ms "
                f"p99 {row['ttft_p99_ms']:7.1f} ms  e2e p50 {row['e2e_p50_ms']:8.1f} ms"
            )
        print("\n".join(document["notes"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
