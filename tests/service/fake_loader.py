"""Imports the TensorRT-LLM fake under the real package's name, as the adapter expects
it (tests and benchmarks/adapter_cost.py share this)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FAKE_DIR = Path(__file__).parent / "fake_tensorrt_llm"


def load_fake() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tensorrt_llm", FAKE_DIR / "__init__.py", submodule_search_locations=[str(FAKE_DIR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tensorrt_llm"] = module
    spec.loader.exec_module(module)
    return module
