"""The server Release's inputs keep a pull request's preview readable.

`pulumi preview` diffs a Release by its inputs: anything unknown there (an image not
built yet) hides the values it covers, and anything the inputs omit (the chart's
templates) is never previewed nor applied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi

from infra import chart
from infra.values import chart_values
from tests.infra.test_stacks import server_release, stack_model, stack_run


def test_only_the_image_waits_for_an_image_reference() -> None:
    config = stack_model("prod")
    values = chart_values(config, pulumi.Output.from_input("registry.example.com/x@sha256:ab"))
    assert isinstance(values["image"], pulumi.Output)
    waiting = [key for key, value in values.items() if isinstance(value, pulumi.Output)]
    assert waiting == ["image"]


def test_release_description_carries_the_chart_digest() -> None:
    release = server_release(stack_run("dev"))
    assert release.plain("description") == f"tensorrt-llm chart sha256:{chart.chart_digest()}"


def test_chart_digest_follows_a_template_edit(tmp_path: Path) -> None:
    copy = tmp_path / "tensorrt-llm"
    shutil.copytree(chart.CHART_DIR, copy)
    before = chart.chart_digest(copy)
    assert before == chart.chart_digest()
    deployment = copy / "templates" / "deployment.yaml"
    deployment.write_text(deployment.read_text() + "\n# edited\n")
    assert chart.chart_digest(copy) != before
