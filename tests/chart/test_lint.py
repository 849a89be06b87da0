"""`helm lint --strict` (the Helm Go SDK) is silent for the defaults and every scenario."""

from __future__ import annotations

import helm_python
import pytest

from infra.chart import CHART_DIR
from tests.chart.rendering import NAMESPACE
from tests.chart.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lint_strict_reports_nothing(name: str) -> None:
    scenario = SCENARIOS[name]
    report = helm_python.lint(
        CHART_DIR,
        scenario.values,
        strict=True,
        namespace=NAMESPACE,
        kube_version=scenario.kube_version,
    )
    assert report["errors"] == [], report
    assert report["messages"] == [], report


def test_lint_catches_a_broken_value() -> None:
    # Guards the test above: lint must actually see values and report problems.
    report = helm_python.lint(CHART_DIR, {"replicaCount": -1}, strict=True, namespace=NAMESPACE)
    assert report["messages"] or report["errors"], report
