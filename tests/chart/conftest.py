"""Render every scenario once per test session; the chart tests share the results."""

from __future__ import annotations

import pytest

from tests.chart.rendering import Rendered, render
from tests.chart.scenarios import SCENARIOS


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    return {
        name: render(s.values, api_versions=s.api_versions, kube_version=s.kube_version)
        for name, s in SCENARIOS.items()
    }
