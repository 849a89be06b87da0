"""The image's build context holds only what the image needs.

pulumi-docker hashes the whole context (after .dockerignore) to decide whether to
rebuild, and a rebuild gives a new digest that rolls every server pod; so a change to
the README, docs, tests, charts or the Pulumi program must leave the context alone.
docker-py's `exclude_paths` applies .dockerignore the way the Docker CLI does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from docker.utils.build import exclude_paths

from tests.image.dockerfile import dockerignore_patterns
from tests.tools import REPO_ROOT

DOCKERFILE = "service/Dockerfile"


def tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


@cache
def context_files() -> frozenset[str]:
    """Tracked files that reach the build context."""
    included = exclude_paths(str(REPO_ROOT), dockerignore_patterns(), dockerfile=DOCKERFILE)
    return frozenset(f for f in tracked_files() if f in included)


def test_context_is_the_project_metadata_and_the_server_package() -> None:
    # Docker always sends .dockerignore itself (and the Dockerfile).
    metadata = {"pyproject.toml", ".dockerignore"}
    outside = sorted(f for f in context_files() - metadata if not f.startswith("service/"))
    assert outside == [], f"the build context holds files the image never uses: {outside}"
    assert "service/__main__.py" in context_files()


def test_documentation_and_the_deploy_code_cannot_change_the_context() -> None:
    for path in ["README.md", "docs/image.md", "infra/release.py", "tests/conftest.py"]:
        assert path in tracked_files(), f"{path} moved: pick another example"
        assert path not in context_files(), f"{path} is in the build context"


def test_the_wheel_builds_from_the_context_alone(tmp_path: Path) -> None:
    # The image's first stage builds the project's wheel from exactly these files.
    source = tmp_path / "context"
    for name in context_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "wheels").glob("tensorrt_llm_k8s-*.whl"))
