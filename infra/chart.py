"""Facts about the server's Helm chart that the Pulumi program needs before Helm runs.

The chart (infra/charts/tensorrt-llm) owns its defaults, names and labels; this module
reads them from the chart's own files instead of restating them, so the config rules,
the NetworkPolicies and the stack outputs follow the chart when it changes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parent / "charts" / "tensorrt-llm"

# The container port name the chart gives the server (deployment.yaml `ports[].name`);
# NetworkPolicies select it by name so the port number stays the chart's fact.
SERVER_PORT_NAME = "http"


@functools.cache
def chart_metadata() -> dict[str, Any]:
    """Chart.yaml as a dict."""
    return yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())


@functools.cache
def chart_defaults() -> dict[str, Any]:
    """values.yaml as a dict: what the chart does with a key the program leaves out."""
    return yaml.safe_load((CHART_DIR / "values.yaml").read_text())


def chart_default(path: str) -> Any:
    """One default by dotted path, e.g. `chart_default("service.port")`."""
    node: Any = chart_defaults()
    for part in path.split("."):
        node = node[part]
    return node


def chart_path_for_helm() -> str:
    """The chart directory relative to the working directory.

    The path is stored in the Release's state; a relative path keeps `pulumi preview`
    free of spurious diffs between checkouts in different directories (laptop vs CI).
    """
    return os.path.relpath(CHART_DIR, Path.cwd())


def selector_labels(release_name: str) -> dict[str, str]:
    """The labels the chart's Deployment selects its pods by (tensorrt-llm.labels.selector).

    The program sets no nameOverride, so the name label is the chart's name.
    """
    return {
        "app.kubernetes.io/name": chart_metadata()["name"],
        "app.kubernetes.io/instance": release_name,
    }


# The component label of the chart's `helm test` pod (tensorrt-llm.labels.testPod); the
# server pods carry `inference-server`, so this label alone tells the two apart.
TEST_POD_COMPONENT = "helm-test"


def helm_test_pod_labels(release_name: str) -> dict[str, str]:
    """Labels that select the chart's `helm test` pod and no server pod."""
    return {
        "app.kubernetes.io/instance": release_name,
        "app.kubernetes.io/component": TEST_POD_COMPONENT,
    }
