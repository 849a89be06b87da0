"""The server's metric names: the one list the Pulumi program (prometheus-adapter
rule), the chart's HPA, ScaledObject and dashboard, and the tests read.

Names follow the Prometheus guide (one `trtllm_` prefix, base units, `_total` on
counters only) and are trtllm-serve's own where it has the same series
(NVIDIA/TensorRT-LLM tensorrt_llm/metrics/collector.py), so NVIDIA's dashboards and the
Gateway API Inference Extension's endpoint picker ("trtllm-serve" metrics dialect) read
them unchanged. With the dialect's semantics:
- `trtllm_num_requests_waiting`: requests queued in this server, the admission queue
  plus the engine's own queue; the autoscaling and routing signal.
- `trtllm_num_requests_running`: requests the engine is executing.
- `trtllm_kv_cache_utilization` (0..1) and the block geometry: from the engine's block
  pool; absent where the engine cannot tell.

Plain constants with no imports, so the Pulumi program can read them without the
server's dependencies.
"""

from __future__ import annotations

HTTP_REQUESTS_TOTAL = "trtllm_http_requests_total"
REQUESTS_REJECTED_TOTAL = "trtllm_requests_rejected_total"
E2E_REQUEST_LATENCY_SECONDS = "trtllm_e2e_request_latency_seconds"
TIME_TO_FIRST_TOKEN_SECONDS = "trtllm_time_to_first_token_seconds"
INTER_TOKEN_LATENCY_SECONDS = "trtllm_inter_token_latency_seconds"
PROMPT_TOKENS_TOTAL = "trtllm_prompt_tokens_total"
GENERATION_TOKENS_TOTAL = "trtllm_generation_tokens_total"
REQUESTS_RUNNING = "trtllm_num_requests_running"
REQUESTS_WAITING = "trtllm_num_requests_waiting"
ENGINE_STALL_SECONDS = "trtllm_engine_stall_seconds"
MODEL_LOAD_SECONDS = "trtllm_model_load_seconds"
KV_CACHE_UTILIZATION = "trtllm_kv_cache_utilization"
KV_CACHE_USED_BLOCKS = "trtllm_kv_cache_used_blocks"
KV_CACHE_FREE_BLOCKS = "trtllm_kv_cache_free_blocks"
KV_CACHE_MAX_BLOCKS = "trtllm_kv_cache_max_blocks"
KV_CACHE_TOKENS_PER_BLOCK = "trtllm_kv_cache_tokens_per_block"
# Exported only by engines that report their KV cache (simulated, tensorrt-llm).
KV_CACHE_METRIC_NAMES = (
    KV_CACHE_UTILIZATION,
    KV_CACHE_USED_BLOCKS,
    KV_CACHE_FREE_BLOCKS,
    KV_CACHE_MAX_BLOCKS,
    KV_CACHE_TOKENS_PER_BLOCK,
)

# Exported base names (histograms without their _bucket/_sum/_count series).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        HTTP_REQUESTS_TOTAL,
        REQUESTS_REJECTED_TOTAL,
        E2E_REQUEST_LATENCY_SECONDS,
        TIME_TO_FIRST_TOKEN_SECONDS,
        INTER_TOKEN_LATENCY_SECONDS,
        PROMPT_TOKENS_TOTAL,
        GENERATION_TOKENS_TOTAL,
        REQUESTS_RUNNING,
        REQUESTS_WAITING,
        ENGINE_STALL_SECONDS,
        MODEL_LOAD_SECONDS,
        *KV_CACHE_METRIC_NAMES,
    }
)

# Label values of REQUESTS_REJECTED_TOTAL; a fixed set keeps cardinality bounded.
REJECT_QUEUE_FULL = "queue_full"
REJECT_NOT_READY = "not_ready"
REJECT_DRAINING = "draining"
REJECT_PROMPT_TOO_LONG = "prompt_too_long"
REJECT_REASONS = (REJECT_QUEUE_FULL, REJECT_NOT_READY, REJECT_DRAINING, REJECT_PROMPT_TOO_LONG)
