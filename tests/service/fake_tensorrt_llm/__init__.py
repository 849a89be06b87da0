"""A stand-in for the `tensorrt_llm` package, for tests on machines without a GPU.

Tests load this directory under the module name `tensorrt_llm` (see
tests/service/test_tensorrt_llm_engine.py). It has the upstream import paths the
adapter uses (`tensorrt_llm.LLM`, `tensorrt_llm.SamplingParams`,
`tensorrt_llm.llmapi.KvCacheConfig`) with upstream's signatures, and imitates the
behaviours the adapter depends on: import-time loading of libpython, argument
validation, a RequestOutput updated in place while streaming, abort(), the prompt-length
ValueError, the worker's own max_seq_len, token-level stop words trimmed from the token
ids (but not from the log-probabilities), the PyTorch sampler's top-k log-probabilities
(logprobs=0 meaning none), a hung executor, and shutdown().
"""

from ._native import preload_python_lib

# Upstream's first act on import (before torch): dlopen libpython by soname.
preload_python_lib()

from . import llmapi  # noqa: E402
from .llmapi import LLM, RequestOutput  # noqa: E402
from .sampling_params import SamplingParams  # noqa: E402

# Marks the fake: the adapter reports whatever version string it finds here.
__version__ = "1.2.1+fake"

__all__ = ["LLM", "RequestOutput", "SamplingParams", "__version__", "llmapi"]
