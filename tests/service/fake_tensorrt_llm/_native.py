"""Import-time native library loading, as `tensorrt_llm/__init__.py` does it.

Upstream's `_preload_python_lib()` runs `cdll.LoadLibrary("libpython3.X.so.1.0")` and
then `cdll.LoadLibrary("libpython3.X.so")` on Linux; in an image without the shared
library (Ubuntu's `libpython3.12t64`) or its unversioned name (`libpython3.12-dev`) the
import fails with the dynamic loader's OSError. The fake does not load anything: the
libraries its "image" lacks are named, comma-separated, in MISSING_LIBRARIES_ENV when
the package is imported, and loading one of them raises that same OSError.
"""

from __future__ import annotations

import os
import sys

MISSING_LIBRARIES_ENV = "FAKE_TENSORRT_LLM_MISSING_LIBRARIES"


def python_library_names() -> list[str]:
    major, minor = sys.version_info[:2]
    library = f"libpython{major}.{minor}.so"
    return [library + ".1.0", library]


def _load_library(name: str) -> None:
    missing = {n.strip() for n in os.environ.get(MISSING_LIBRARIES_ENV, "").split(",")}
    if name in missing:
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")


def preload_python_lib() -> None:
    for name in python_library_names():
        _load_library(name)
