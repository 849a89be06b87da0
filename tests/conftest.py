"""Top-level pytest configuration: shared helpers live in tests/tools.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent / "e2e"


def _e2e_requested(config: pytest.Config) -> bool:
    """scripts/e2e.sh sets E2E_TOOLCHAIN_BIN; naming tests/e2e explicitly also asks for it
    (and then fails loudly without the toolchain instead of skipping)."""
    if os.environ.get("E2E_TOOLCHAIN_BIN"):
        return True
    return any(
        Path(str(arg).split("::")[0]).resolve().is_relative_to(E2E_DIR) for arg in config.args
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # The end-to-end suite needs the Go toolchain and a running control plane, which
    # scripts/e2e.sh builds and starts; the fast suite leaves it to that script.
    if collection_path == E2E_DIR and not _e2e_requested(config):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _e2e_requested(config):
        return "tests/e2e: not collected here; `bash scripts/e2e.sh` runs it against a real cluster"
    return None
