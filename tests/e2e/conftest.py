"""Fixtures of the end-to-end suite (see tests/e2e/harness.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.harness import Cli, copy_project, kubectl, toolchain_bin


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The real CLI with its own PULUMI_HOME (the provider installed) and file backend."""
    if not os.environ.get("KUBECONFIG"):
        raise RuntimeError("KUBECONFIG is not set: run the suite with scripts/e2e.sh")
    kubectl("get", "--raw", "/readyz")
    bin_dir = toolchain_bin()
    # The Automation API runs `pulumi` from PATH.
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    home = tmp_path_factory.mktemp("pulumi-home")
    backend = tmp_path_factory.mktemp("pulumi-state")
    cli = Cli(bin_dir=bin_dir, home=home, backend=backend)
    cli.install_provider()
    return cli


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Pulumi project for one test module."""
    return copy_project(tmp_path_factory.mktemp("project") / "project")
