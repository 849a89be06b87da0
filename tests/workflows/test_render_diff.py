"""scripts/render_diff.py: the PR comment with the rendered-manifest diff per stack."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.tools import REPO_ROOT


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_diff", REPO_ROOT / "scripts" / "render_diff.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


render_diff = load_script()


def test_identical_trees_report_no_changes() -> None:
    same = render_diff.Rendered(files={"deployment.yaml": "replicas: 1\n"})
    body = render_diff.to_markdown([render_diff.stack_diff("dev", same, same)])
    assert body.splitlines()[0] == render_diff.MARKER  # the sticky comment is found by it
    assert "<b>dev</b>: no changes" in body and "````diff" not in body


def test_changed_added_and_removed_files_are_diffed() -> None:
    base = render_diff.Rendered(files={"a.yaml": "replicas: 1\n", "gone.yaml": "x: 1\n"})
    head = render_diff.Rendered(files={"a.yaml": "replicas: 3\n", "new.yaml": "y: 2\n"})
    item = render_diff.stack_diff("prod", base, head)
    assert item.changed_files == 3
    assert "-replicas: 1\n+replicas: 3" in item.diff
    assert "--- a/gone.yaml\n+++ /dev/null" in item.diff
    assert "--- /dev/null\n+++ b/new.yaml" in item.diff
    body = render_diff.to_markdown([item])
    assert "<b>prod</b>: 3 file(s) changed, +2 -2" in body


def test_long_diffs_are_cut_to_fit_a_github_comment() -> None:
    base = render_diff.Rendered(files={"big.yaml": "".join(f"k{i}: 0\n" for i in range(20000))})
    head = render_diff.Rendered(files={"big.yaml": "".join(f"k{i}: 1\n" for i in range(20000))})
    body = render_diff.to_markdown([render_diff.stack_diff("dev", base, head)])
    assert len(body) < 65536 and "diff cut at" in body


def test_a_base_without_the_stack_shows_everything_as_added() -> None:
    item = render_diff.stack_diff(
        "staging",
        render_diff.Rendered(files={}, error="no Pulumi.staging.yaml"),
        render_diff.Rendered(files={"svc.yaml": "kind: Service\n"}),
    )
    body = render_diff.to_markdown([item])
    assert "+kind: Service" in body and "base: no Pulumi.staging.yaml" in body


def copy_project(destination: Path) -> Path:
    destination.mkdir()
    for path in REPO_ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, destination / path.name)
    shutil.copytree(
        REPO_ROOT / "infra", destination / "infra", ignore=shutil.ignore_patterns("__pycache__")
    )
    return destination


def test_real_render_diff_between_two_checkouts(tmp_path: Path) -> None:
    if not (REPO_ROOT / "infra" / "render.py").is_file():
        pytest.fail("infra/render.py is missing: the PR workflow depends on it")
    base = copy_project(tmp_path / "base")
    head = copy_project(tmp_path / "head")
    chart_file = head / "infra" / "charts" / "tensorrt-llm" / "Chart.yaml"
    text = chart_file.read_text()
    assert re.search(r"(?m)^version:", text)
    chart_file.write_text(re.sub(r"(?m)^version:.*$", "version: 99.0.0", text))
    out = tmp_path / "comment.md"

    status = render_diff.main(["--base", str(base), "--head", str(head), "--out", str(out)])

    body = out.read_text()
    assert status == 0, body
    for stack in ("dev", "prod"):
        assert f"<b>{stack}</b>:" in body and f"<b>{stack}</b>: no changes" not in body
    assert "99.0.0" in body  # the chart version is in every resource's helm.sh/chart label
