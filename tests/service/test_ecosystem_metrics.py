"""The metrics the Kubernetes inference stack reads: the endpoint picker's trtllm-serve
dialect and trtllm-serve's own names, with the protocol's meaning, moving with load.

Upstream names are test data (tests/service/data/upstream_metric_names.json), each set
with the repository, path and commit it was read from.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.engines.base import GenerationRequest, KvCacheStats
from service.engines.simulated import TOKENS_PER_BLOCK, SimulatedEngine
from service.metric_names import (
    KV_CACHE_METRIC_NAMES,
    KV_CACHE_UTILIZATION,
    METRIC_NAMES,
    REQUESTS_RUNNING,
    REQUESTS_WAITING,
)
from service.metrics import ServerMetrics
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until

UPSTREAM = json.loads((Path(__file__).parent / "data" / "upstream_metric_names.json").read_text())
DIALECT = UPSTREAM["endpoint_picker_dialect"]


def scrape(text: str) -> dict[str, tuple[str, float]]:
    """name -> (type, value) of every unlabelled sample."""
    return {
        sample.name: (family.type, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_metrics_serve_every_name_the_endpoint_picker_reads(client: TestClient) -> None:
    client.post(
        "/v1/completions", json={"model": "simulated", "prompt": "warm up", "max_tokens": 3}
    )
    exported = scrape(client.get("/metrics").text)
    for spec, name in DIALECT["gauges"].items():
        assert name in exported, f"{spec}: {name} (EPP {DIALECT['ref']}) missing from /metrics"
        assert exported[name][0] == "gauge", name
    utilization = exported[DIALECT["gauges"]["KVUsageSpec"]][1]
    assert 0.0 <= utilization <= 1.0  # the EPP reads a fraction, not a percentage
    assert exported[DIALECT["gauges"]["CacheBlockSizeSpec"]][1] == TOKENS_PER_BLOCK


def test_shared_series_carry_trtllm_serves_names() -> None:
    ours = METRIC_NAMES
    upstream = set(UPSTREAM["trtllm_serve"]["names"])
    assert upstream <= ours, upstream - ours
    assert set(DIALECT["gauges"].values()) <= ours


# --- the protocol's semantics


@dataclass
class _Engine:
    """An engine whose own queue and KV cache a test sets."""

    queued: int = 0
    kv: KvCacheStats | None = None

    def stalled_seconds(self) -> float:
        return 0.0

    def queued_requests(self) -> int:
        return self.queued

    def kv_cache(self) -> KvCacheStats | None:
        return self.kv


def test_waiting_counts_the_engines_queue_and_running_only_what_executes() -> None:
    metrics, engine = ServerMetrics(), _Engine(queued=2, kv=KvCacheStats(30, 120, 64))
    metrics.track_admission(lambda: 5, lambda: 3)  # 5 handed to the engine, 3 in admission
    metrics.track_engine(engine)
    exported = scrape(metrics.render().decode())
    assert exported[REQUESTS_WAITING][1] == 5  # 3 + the engine's 2
    assert exported[REQUESTS_RUNNING][1] == 3
    assert exported[KV_CACHE_UTILIZATION][1] == 0.25
    assert exported["trtllm_kv_cache_free_blocks"][1] == 90


def test_kv_series_are_absent_where_the_engine_cannot_tell() -> None:
    metrics = ServerMetrics()
    metrics.track_engine(_Engine(kv=None))
    exported = scrape(metrics.render().decode())
    assert not set(KV_CACHE_METRIC_NAMES) & set(exported)
    assert exported[REQUESTS_WAITING][1] == 0


def _request(tokens: int, prompt: str = "a b c d") -> GenerationRequest:
    return GenerationRequest(
        request_id=f"r{tokens}-{time.monotonic_ns()}",
        prompt=prompt,
        max_tokens=tokens,
        temperature=0.0,
        top_p=1.0,
    )


def test_simulated_blocks_fill_with_tokens_and_queue_when_the_pool_is_full() -> None:
    async def scenario() -> None:
        # 8 blocks of 32 tokens; each request reserves ceil((4 + 100) / 32) = 4 blocks.
        engine = SimulatedEngine(itl_s=0.002, max_batch=8, kv_cache_blocks=8)
        await engine.load()

        async def drain(tokens: int) -> None:
            async for _ in engine.stream(_request(tokens)):
                pass

        tasks = [asyncio.create_task(drain(100)) for _ in range(3)]
        await asyncio.sleep(0.02)
        assert engine.queued_requests() == 1  # the third waits for blocks, not slots
        first = engine.kv_cache()
        assert 2 <= first.used_blocks <= 8
        await asyncio.sleep(0.15)
        assert engine.kv_cache().used_blocks > first.used_blocks  # tokens fill blocks
        await asyncio.gather(*tasks)
        assert engine.kv_cache().used_blocks == 0
        assert engine.queued_requests() == 0

    asyncio.run(scenario())


def test_cancelled_streams_return_their_blocks() -> None:
    async def scenario() -> None:
        engine = SimulatedEngine(itl_s=0.01, max_batch=1)
        await engine.load()
        stream = engine.stream(_request(500))
        await anext(stream)
        assert engine.kv_cache().used_blocks == 1
        await stream.aclose()
        assert engine.kv_cache().used_blocks == 0

    asyncio.run(scenario())


# --- under load, over a real socket


@pytest.fixture
def loaded_server() -> Iterator[ThreadServer]:
    settings = fast_settings(max_concurrent_requests=2, max_queued_requests=16)
    engine = SimulatedEngine(itl_s=0.01, max_batch=2, max_context_tokens=1024)
    with thread_server(settings, engine) as live:
        yield live


def test_waiting_rises_when_admission_is_full_and_returns_to_zero(
    loaded_server: ThreadServer,
) -> None:
    live = loaded_server
    url = f"{live.base_url}/v1/completions"
    body = {"model": "simulated", "prompt": "load", "max_tokens": 60}

    def gauges() -> dict[str, float]:
        exported = scrape(httpx.get(f"{live.base_url}/metrics", timeout=5).text)
        return {name: value for name, (_, value) in exported.items()}

    idle = gauges()
    assert (idle[REQUESTS_WAITING], idle[KV_CACHE_UTILIZATION]) == (0, 0)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(httpx.post, url, json=body, timeout=30) for _ in range(6)]
        assert wait_until(lambda: gauges()[REQUESTS_WAITING] == 4, timeout=10)
        busy = gauges()
        assert busy[REQUESTS_RUNNING] == 2
        assert busy[KV_CACHE_UTILIZATION] > 0
        assert [f.result().status_code for f in futures] == [200] * 6
    done = gauges()
    assert (done[REQUESTS_WAITING], done[REQUESTS_RUNNING], done[KV_CACHE_UTILIZATION]) == (0, 0, 0)


def test_a_cold_replica_refuses_with_retry_after_and_already_exports_the_gauges() -> None:
    """Scale from zero: until the model is loaded the pod is unready (the endpoint picker
    and the Service skip it), a request that reaches it anyway gets a 503 with
    Retry-After, and /metrics serves the dialect's gauges from the first scrape."""
    settings = fast_settings(simulated_load_seconds=1.0)
    with thread_server(settings, wait_ready=False) as live:
        assert httpx.get(f"{live.base_url}/health/ready").status_code == 503
        refused = httpx.post(
            f"{live.base_url}/v1/completions", json={"model": "simulated", "prompt": "x"}
        )
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        exported = scrape(httpx.get(f"{live.base_url}/metrics").text)
        assert exported[REQUESTS_WAITING][1] == 0
        assert set(DIALECT["gauges"].values()) <= set(exported)
