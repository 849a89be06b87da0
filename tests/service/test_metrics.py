"""/metrics: Prometheus text with exactly the contract's names, counting truthfully."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.metric_names import METRIC_NAMES
from service.metrics import LoopHistogram
from tests.servers import fast_settings

CONTRACT_NAMES = {
    "trtllm_http_requests_total",
    "trtllm_requests_rejected_total",
    "trtllm_e2e_request_latency_seconds",
    "trtllm_time_to_first_token_seconds",
    "trtllm_inter_token_latency_seconds",
    "trtllm_prompt_tokens_total",
    "trtllm_generation_tokens_total",
    "trtllm_num_requests_running",
    "trtllm_num_requests_waiting",
    "trtllm_engine_stall_seconds",
    "trtllm_model_load_seconds",
    "trtllm_kv_cache_utilization",
    "trtllm_kv_cache_used_blocks",
    "trtllm_kv_cache_free_blocks",
    "trtllm_kv_cache_max_blocks",
    "trtllm_kv_cache_tokens_per_block",
}


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metric_names_are_the_contract() -> None:
    assert METRIC_NAMES == CONTRACT_NAMES


def test_every_metric_is_exported(client: TestClient) -> None:
    client.post("/v1/completions", json={"model": "simulated", "prompt": "x", "max_tokens": 2})
    exported = {name for name, _ in samples(client)}
    for name in METRIC_NAMES:
        assert name in exported or f"{name}_count" in exported, name
    assert not any(name.endswith("_created") for name in exported)


def test_model_load_time_is_exported_once_loaded() -> None:
    with TestClient(create_app(fast_settings(simulated_load_seconds=0.2))) as client:
        for _ in range(100):  # bounded: the simulated engine loads in 0.2 s
            if client.get("/health/ready").status_code == 200:
                break
            time.sleep(0.05)
        assert samples(client)[("trtllm_model_load_seconds", ())] >= 0.2


def test_requests_tokens_and_latencies_are_counted(client: TestClient) -> None:
    before = samples(client)
    client.post("/v1/completions", json={"model": "simulated", "prompt": "a b c", "max_tokens": 4})
    client.post("/v1/completions", json={"model": "simulated", "prompt": "a", "max_tokens": 0})
    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = "/v1/completions"
    assert delta("trtllm_http_requests_total", route=route, status="200") == 1
    assert delta("trtllm_http_requests_total", route=route, status="400") == 1
    assert delta("trtllm_prompt_tokens_total") == 3
    assert delta("trtllm_generation_tokens_total") == 4
    assert delta("trtllm_e2e_request_latency_seconds_count") == 1
    assert delta("trtllm_time_to_first_token_seconds_count") == 1
    assert delta("trtllm_inter_token_latency_seconds_count") == 3
    assert after[("trtllm_num_requests_running", ())] == 0


def test_unknown_paths_share_one_label_value(client: TestClient) -> None:
    for path in ("/a", "/b", "/c"):
        client.get(path)
    routes = {dict(labels).get("route") for name, labels in samples(client) if "http" in name}
    assert "unmatched" in routes
    assert not routes & {"/a", "/b", "/c"}


def test_two_apps_in_one_process_do_not_share_metrics() -> None:
    with (
        TestClient(create_app(fast_settings())) as one,
        TestClient(create_app(fast_settings())) as two,
    ):
        one.get("/health/live")
        key = ("trtllm_http_requests_total", (("route", "/health/live"), ("status", "200")))
        assert samples(one)[key] == 1
        assert key not in samples(two)


def test_loop_histogram_exposes_exactly_what_prometheus_clients_histogram_does() -> None:
    buckets = (0.005, 0.01, 0.025, 0.1, 1)
    reference_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x_seconds", "Doc.", buckets=buckets, registry=reference_registry)
    ours = LoopHistogram("x_seconds", "Doc.", buckets, ours_registry)
    assert generate_latest(ours_registry) == generate_latest(reference_registry)
    # Values on every bucket edge (le is inclusive), between them, and past the last.
    for value in (0.0, *buckets, 0.007, 0.5, 3.0, 0.005, 1e6):
        reference.observe(value)
        ours.observe(value)
    assert generate_latest(ours_registry) == generate_latest(reference_registry)
