"""TensorRT-LLM LLM API options passed through as they are (`engineOptions`).

The same role as trtllm-serve's `--extra_llm_api_options`: stack config
`server.engineOptions` -> chart value -> a JSON file in the pod (JSON is YAML, so
trtllm-serve reads the same file) -> `LLM(**options)`. The names are checked here, once,
by the Pulumi program (before anything deploys) and by the server (before the model
loads), so a typo is a one-line error naming the option instead of a crash-looping pod.

Standard library only: the Pulumi program imports this module without the server's
dependencies.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The keyword arguments of `tensorrt_llm.LLM` with the PyTorch backend: LLM.__init__'s
# explicit parameters and the BaseLlmArgs / TorchLlmArgs fields of the 1.x releases
# (tensorrt_llm/llmapi/llm_args.py; docs/tensorrt-llm-api.md has the versions read).
# A union over those releases: a field one of them lacks is refused by LLM() itself.
LLM_API_OPTIONS: frozenset[str] = frozenset(
    {
        # LLM.__init__ / BaseLlmArgs explicit arguments
        "model",
        "tokenizer",
        "tokenizer_mode",
        "skip_tokenizer_init",
        "trust_remote_code",
        "tensor_parallel_size",
        "dtype",
        "revision",
        "tokenizer_revision",
        # BaseLlmArgs
        "custom_tokenizer",
        "model_kwargs",
        "pipeline_parallel_size",
        "context_parallel_size",
        "gpus_per_node",
        "moe_cluster_parallel_size",
        "moe_tensor_parallel_size",
        "moe_expert_parallel_size",
        "enable_attention_dp",
        "enable_lm_head_tp_in_adp",
        "pp_partition",
        "cp_config",
        "load_format",
        "fail_fast_on_attention_window_too_large",
        "enable_lora",
        "lora_config",
        "kv_cache_config",
        "enable_chunked_prefill",
        "guided_decoding_backend",
        "batched_logits_processor",
        "iter_stats_max_iterations",
        "request_stats_max_iterations",
        "peft_cache_config",
        "scheduler_config",
        "cache_transceiver_config",
        "sparse_attention_config",
        "speculative_config",
        "max_batch_size",
        "max_input_len",
        "max_seq_len",
        "max_beam_width",
        "max_num_tokens",
        "gather_generation_logits",
        "num_postprocess_workers",
        "postprocess_tokenizer_dir",
        "reasoning_parser",
        "decoding_config",
        "otlp_traces_endpoint",
        "return_perf_metrics",
        "perf_metrics_max_requests",
        "orchestrator_type",
        "env_overrides",
        "mpi_session",
        "backend",
        # TorchLlmArgs
        "build_config",
        "garbage_collection_gen0_threshold",
        "cuda_graph_config",
        "attention_dp_config",
        "disable_overlap_scheduler",
        "moe_config",
        "nvfp4_gemm_config",
        "attn_backend",
        "sampler_type",
        "sampler_force_async_worker",
        "enable_mixed_sampler",
        "enable_trtllm_sampler",
        "enable_iter_perf_stats",
        "enable_iter_req_stats",
        "print_iter_log",
        "torch_compile_config",
        "enable_autotuner",
        "enable_layerwise_nvtx_marker",
        "enable_min_latency",
        "stream_interval",
        "force_dynamic_quantization",
        "allreduce_strategy",
        "checkpoint_loader",
        "checkpoint_format",
        "connector_config",
        "batch_wait_timeout_ms",
        "batch_wait_timeout_iters",
        "disable_flash_infer_sampling",
    }
)

# Options the server sets from its own settings, or cannot work without: one place per
# fact, so these are refused here with the setting to use instead.
OWNED_OPTIONS: Mapping[str, str] = {
    "model": "set by model.path (MODEL_PATH)",
    "trust_remote_code": "set by model.trustRemoteCode (TRUST_REMOTE_CODE)",
    "tensor_parallel_size": "set by tensorParallelSize (TENSOR_PARALLEL_SIZE)",
    "pipeline_parallel_size": "set by parallelism.pipeline (PIPELINE_PARALLEL_SIZE)",
    "max_batch_size": "set by server.maxBatchSize (MAX_BATCH_SIZE)",
    "max_num_tokens": "set by server.maxNumTokens (MAX_NUM_TOKENS)",
    "max_seq_len": "set by server.maxSeqLen (MAX_SEQ_LEN)",
    "skip_tokenizer_init": "the server tokenizes prompts itself and needs the tokenizer",
    "backend": "the server runs the PyTorch backend only",
    "mpi_session": "an object, not a setting",
    "batched_logits_processor": "an object, not a setting",
    "checkpoint_loader": "an object, not a setting",
}
# kv_cache_config is a mapping of KvCacheConfig fields; this one has its own setting.
KV_CACHE_FRACTION = "free_gpu_memory_fraction"
KV_CACHE_FRACTION_SETTING = "server.kvCacheFreeGpuMemoryFraction"


def engine_option_problems(options: Mapping[str, Any]) -> list[str]:
    """One message per refused option, each starting with the option's name."""
    problems: list[str] = []
    for name in sorted(options):
        if name in OWNED_OPTIONS:
            problems.append(f"{name}: {OWNED_OPTIONS[name]}")
        elif name not in LLM_API_OPTIONS:
            close = difflib.get_close_matches(name, sorted(LLM_API_OPTIONS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: not an option of TensorRT-LLM's LLM API{hint}")
    kv_cache = options.get("kv_cache_config")
    if kv_cache is not None and not isinstance(kv_cache, Mapping):
        problems.append("kv_cache_config: must be a mapping of KvCacheConfig fields")
    elif isinstance(kv_cache, Mapping) and KV_CACHE_FRACTION in kv_cache:
        problems.append(
            f"kv_cache_config.{KV_CACHE_FRACTION}: set by {KV_CACHE_FRACTION_SETTING} "
            "(KV_CACHE_FREE_GPU_MEMORY_FRACTION)"
        )
    return problems


def read_engine_options(path: str | Path) -> dict[str, Any]:
    """The options in `path` (a JSON object), checked; ValueError names what is wrong."""
    try:
        options = json.loads(Path(path).read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(options, dict):
        raise ValueError(f"{path} must hold a JSON object of LLM API options")
    problems = engine_option_problems(options)
    if problems:
        raise ValueError("; ".join(problems))
    return options
