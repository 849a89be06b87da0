"""A stand-in for the `tensorrt_llm` package, for tests on machines without a GPU.

Tests load this directory under the module name `tensorrt_llm` (see
tests/service/test_tensorrt_llm_engine.py). It has the upstream import paths the
adapter uses (`tensorrt_llm.LLM`, `tensorrt_llm.SamplingParams`,
`tensorrt_llm.llmapi.KvCacheConfig`) with upstream's signatures, and imitates the
behaviours the adapter depends on: argument validation, a RequestOutput updated in
place while streaming, abort(), the prompt-length ValueError and shutdown().
"""

from . import llmapi
from .llmapi import LLM, RequestOutput
from .sampling_params import SamplingParams

# Marks the fake: the adapter reports whatever version string it finds here.
__version__ = "1.2.1+fake"

__all__ = ["LLM", "RequestOutput", "SamplingParams", "__version__", "llmapi"]
