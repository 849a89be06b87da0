"""create_engine: settings pick the engine and reach its constructor unchanged."""

from __future__ import annotations

import sys

import pytest

from service.engines import create_engine
from service.engines.simulated import SimulatedEngine
from service.settings import Settings


async def test_simulated_engine_advertises_the_settings() -> None:
    settings = Settings(max_num_tokens=50, served_model_name="sim", simulated_load_seconds=0)
    engine = create_engine(settings)
    assert isinstance(engine, SimulatedEngine)
    info = await engine.load()
    assert (info.model_name, info.max_context_tokens) == ("sim", 50)


def test_transformers_engine_is_built_without_importing_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    settings = Settings(engine="transformers", model_path="/models/x", max_batch_size=2)
    engine = create_engine(settings)
    assert type(engine).__name__ == "TransformersEngine"
    assert "torch" not in sys.modules  # weights and torch load in load(), not here


def test_tensorrt_llm_engine_gets_the_contract_keyword_arguments() -> None:
    from service.engines.tensorrt_llm import TensorRTLLMEngine

    settings = Settings(
        engine="tensorrt-llm",
        model_path="/models/llama",
        tensor_parallel_size=2,
        max_batch_size=8,
        max_num_tokens=4096,
        kv_cache_free_gpu_memory_fraction=0.8,
        trust_remote_code=True,
    )
    engine = create_engine(settings)
    assert isinstance(engine, TensorRTLLMEngine)

    class KvCacheConfig:
        def __init__(self, free_gpu_memory_fraction: float) -> None:
            self.free_gpu_memory_fraction = free_gpu_memory_fraction

    kwargs = engine.llm_kwargs(KvCacheConfig)
    assert kwargs["model"] == "/models/llama"
    assert kwargs["tensor_parallel_size"] == 2
    assert kwargs["max_batch_size"] == 8
    assert kwargs["max_num_tokens"] == 4096
    assert kwargs["trust_remote_code"] is True
    assert kwargs["kv_cache_config"].free_gpu_memory_fraction == 0.8
