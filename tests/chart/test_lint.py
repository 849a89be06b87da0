"""`helm lint --strict` (the Helm Go SDK) is silent for the defaults and every scenario."""

from __future__ import annotations

import helm_python
import pytest

from infra.chart import CHART_DIR
from infra.values import INFERENCE_POOL_APIS, SCALED_OBJECT_API
from tests.chart.rendering import NAMESPACE
from tests.chart.scenarios import SCENARIOS

# lint cannot declare cluster APIs, and the chart refuses KEDA or InferencePool objects
# where their APIs are missing; those scenarios are rendered (with the APIs) elsewhere.
_NEEDS_CRDS = {SCALED_OBJECT_API, *INFERENCE_POOL_APIS}
LINTABLE = sorted(n for n, s in SCENARIOS.items() if not _NEEDS_CRDS & set(s.api_versions))


@pytest.mark.parametrize("name", LINTABLE)
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
