"""The server's dependency ranges stay co-installable with tensorrt-llm 1.2.x's pins."""

from __future__ import annotations

import sys

import pytest
from packaging.requirements import Requirement

from tests.tools import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

# Versions tensorrt-llm 1.2.x's own pins allow (fastapi>=0.120.1,<=0.121.3,
# starlette>=0.49.1, transformers==4.57.3, numpy<2): the image installs one of them
# next to the server, so each must satisfy the server's range too.
TENSORRT_LLM_ALLOWS = {
    "fastapi": ("0.120.1", "0.121.3"),
    "starlette": ("0.49.1",),
    "transformers": ("4.57.3",),
    "numpy": ("1.26.4",),
}


def _extras_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = [
        Requirement(line) for name in ("server", "transformers") for line in extras[name]
    ]
    return {requirement.name: requirement for requirement in requirements}


@pytest.mark.parametrize(("package", "versions"), sorted(TENSORRT_LLM_ALLOWS.items()))
def test_server_ranges_admit_what_tensorrt_llm_pins(
    package: str, versions: tuple[str, ...]
) -> None:
    requirement = _extras_requirements()[package]
    for version in versions:
        assert requirement.specifier.contains(version), (str(requirement), version)


def test_numpy_2_is_excluded_as_tensorrt_llm_needs() -> None:
    assert not _extras_requirements()["numpy"].specifier.contains("2.0.0")
