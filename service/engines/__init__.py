"""Engine selection. Engine modules are imported only when chosen, so the simulated
engine starts without torch and the TensorRT-LLM engine's heavy imports stay out of
processes that do not use them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from service.engines.base import Engine

if TYPE_CHECKING:
    from service.settings import Settings


def create_engine(settings: Settings) -> Engine:
    """Build (not load) the engine that settings.engine names."""
    if settings.engine == "simulated":
        from service.engines.simulated import (
            DEFAULT_MAX_CONTEXT_TOKENS,
            DEFAULT_MODEL_NAME,
            SimulatedEngine,
        )

        return SimulatedEngine(
            ttft_s=settings.simulated_ttft_ms / 1000,
            itl_s=settings.simulated_itl_ms / 1000,
            max_batch=settings.simulated_max_batch,
            # Like TensorRT-LLM, a prompt longer than max_num_tokens is refused.
            max_context_tokens=settings.max_num_tokens or DEFAULT_MAX_CONTEXT_TOKENS,
            load_seconds=settings.simulated_load_seconds,
            model_name=settings.model_name or DEFAULT_MODEL_NAME,
        )
    assert settings.model_path is not None  # Settings refuses these engines without one.
    if settings.engine == "transformers":
        from service.engines.transformers_engine import TransformersEngine

        return TransformersEngine(
            model_path=settings.model_path,
            trust_remote_code=settings.trust_remote_code,
            max_batch_size=settings.max_batch_size,
            max_num_tokens=settings.max_num_tokens,
        )
    from service.engine_options import read_engine_options
    from service.engines.tensorrt_llm import MpiLaunch, TensorRTLLMEngine

    options_file = settings.engine_options_file
    return TensorRTLLMEngine(
        model=settings.model_path,
        tensor_parallel_size=settings.tensor_parallel_size,
        pipeline_parallel_size=settings.pipeline_parallel_size,
        mpi_launch=MpiLaunch.from_env(os.environ),
        max_batch_size=settings.max_batch_size,
        max_num_tokens=settings.max_num_tokens,
        kv_cache_free_gpu_memory_fraction=settings.kv_cache_free_gpu_memory_fraction,
        trust_remote_code=settings.trust_remote_code,
        max_seq_len=settings.max_seq_len,
        stall_seconds=settings.engine_stall_seconds or None,
        engine_options=read_engine_options(options_file) if options_file else None,
    )
