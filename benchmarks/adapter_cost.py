"""What the TensorRT-LLM adapter's per-token path costs, apart from HTTP.

    python -m benchmarks.adapter_cost [--streams 128] [--tokens 300]

Runs N concurrent streams in this process, with no server, and prints CPU
microseconds per token (time.process_time over the run) for:
- the fake `tensorrt_llm` (tests/service/fake_tensorrt_llm, which models upstream's
  RequestOutput updates: one queued response per executor step, the output updated
  in place and detokenised per step) read directly, as upstream's own loop is;
- the same through our adapter (service/engines/tensorrt_llm.py: stop hold-back,
  deltas, progress watch, GenerationChunk per step);
- the simulated engine, which the HTTP benchmarks use.
The adapter's own cost per token is the second minus the first. The fake's executor
runs in this process (upstream's runs in its own MPI process), so only the
difference means anything for a GPU host.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from tests.service.fake_loader import load_fake

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "gpu", "warp"]


def _tokenizer_dir(path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", *WORDS, "hi"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    hf.save_pretrained(path)
    return path


async def _timed(streams: Sequence[AsyncIterator[Any]], count: Any) -> tuple[float, int]:
    async def drain(stream: AsyncIterator[Any]) -> int:
        tokens = 0
        async for item in stream:
            tokens += count(item)
        return tokens

    start = time.process_time()
    totals = await asyncio.gather(*(drain(s) for s in streams))
    return time.process_time() - start, sum(totals)


async def measure(streams: int, tokens: int, model_dir: Path, rounds: int = 3) -> dict[str, float]:
    from service.engines.base import GenerationRequest
    from service.engines.simulated import SimulatedEngine
    from service.engines.tensorrt_llm import TensorRTLLMEngine

    fake = load_fake()
    fake.llmapi.BEHAVIOUR.reply = " ".join(WORDS[i % len(WORDS)] for i in range(tokens))
    fake.llmapi.BEHAVIOUR.step_seconds = 0.0

    def request(i: int) -> GenerationRequest:
        return GenerationRequest(f"r{i}", "hi", tokens + 10, 0.0, 1.0)

    engine = TensorRTLLMEngine(
        model=str(model_dir),
        tensor_parallel_size=1,
        max_batch_size=None,
        max_num_tokens=None,
        kv_cache_free_gpu_memory_fraction=0.9,
        trust_remote_code=False,
    )
    await engine.load()
    try:
        llm = engine._llm  # the fake's LLM, read the way upstream's own server loop reads it
        sampling = fake.SamplingParams

        def upstream() -> list[AsyncIterator[Any]]:
            return [
                llm.generate_async([1], sampling(max_tokens=tokens + 10), streaming=True)
                for _ in range(streams)
            ]

        def adapter() -> list[AsyncIterator[Any]]:
            return [engine.stream(request(i)) for i in range(streams)]

        # Rounds alternate the two paths; the least CPU of each is its cost (the first
        # round also pays warm-up: thread pools, caches).
        upstream_runs: list[float] = []
        adapter_runs: list[float] = []
        for _ in range(rounds):
            cpu, count = await _timed(upstream(), lambda _: 1)
            upstream_runs.append(cpu / count)
            cpu, count = await _timed(adapter(), lambda c: c.token_count)
            adapter_runs.append(cpu / count)
    finally:
        await engine.shutdown()
    simulated = SimulatedEngine(max_batch=streams)
    simulated_cpu, simulated_tokens = await _timed(
        [simulated.stream(request(i)) for i in range(streams)], lambda c: c.token_count
    )
    return {
        "fake_upstream_us_per_token": min(upstream_runs) * 1e6,
        "adapter_us_per_token": min(adapter_runs) * 1e6,
        "adapter_own_us_per_token": (min(adapter_runs) - min(upstream_runs)) * 1e6,
        "simulated_us_per_token": simulated_cpu / simulated_tokens * 1e6,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.adapter_cost", description=__doc__)
    p.add_argument("--streams", type=int, default=128)
    p.add_argument("--tokens", type=int, default=300)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adapter-cost-") as tmp:
        result = asyncio.run(measure(a.streams, a.tokens, _tokenizer_dir(Path(tmp))))
    for name, value in result.items():
        print(f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
