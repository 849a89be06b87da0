"""Facts about the server's Helm chart that the Pulumi program needs before Helm runs.

The chart (infra/charts/tensorrt-llm) owns its defaults, names, labels and cross-value
rules; this module reads them from the chart's own files instead of restating them, so
the config rules, the NetworkPolicies and the stack outputs follow the chart when it
changes, and renders the chart offline with the real Helm engine (helm-python-sdk).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

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


def chart_digest(chart_dir: Path = CHART_DIR) -> str:
    """sha256 over the chart's files (paths and contents).

    pulumi-kubernetes diffs a Release by its inputs and reads a local chart only for its
    version, so an edit to a template alone would be neither previewed nor applied; the
    Release carries this digest among its inputs so that it is.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in chart_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(chart_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def selector_labels(release_name: str) -> dict[str, str]:
    """The labels the chart's Deployment selects its pods by (tensorrt-llm.labels.selector).

    The program sets no nameOverride, so the name label is the chart's name.
    """
    return {
        "app.kubernetes.io/name": chart_metadata()["name"],
        "app.kubernetes.io/instance": release_name,
    }


def endpoint_picker_labels(release_name: str) -> dict[str, str]:
    """The labels the chart's endpoint picker pods carry (tensorrt-llm.epp.selectorLabels)."""
    return {
        "app.kubernetes.io/name": f"{chart_metadata()['name']}-epp",
        "app.kubernetes.io/instance": release_name,
    }


def endpoint_picker_ports() -> dict[str, int]:
    """The endpoint picker's ports by use (tensorrt-llm.epp.ports): extProc, health, metrics."""
    text = (CHART_DIR / "templates" / "_inference.tpl").read_text()
    block = text.split('define "tensorrt-llm.epp.ports" -}}', 1)[1].split("{{- end", 1)[0]
    return {k: int(v) for k, v in yaml.safe_load(block).items()}


# The component label of the chart's `helm test` pod (tensorrt-llm.labels.testPod); the
# server pods carry `inference-server`, so this label alone tells the two apart.
TEST_POD_COMPONENT = "helm-test"


def helm_test_pod_labels(release_name: str) -> dict[str, str]:
    """Labels that select the chart's `helm test` pod and no server pod."""
    return {
        "app.kubernetes.io/instance": release_name,
        "app.kubernetes.io/component": TEST_POD_COMPONENT,
    }


# The component label of the model cache prefill Job's pod (tensorrt-llm.labels.prefillPod).
PREFILL_POD_COMPONENT = "model-cache-prefill"


def prefill_pod_labels(release_name: str) -> dict[str, str]:
    """Labels that select the model cache prefill pod and no server pod."""
    return {
        "app.kubernetes.io/instance": release_name,
        "app.kubernetes.io/component": PREFILL_POD_COMPONENT,
    }


def render_chart(
    values: dict[str, Any] | None,
    *,
    release: str,
    namespace: str,
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    chart_dir: Path = CHART_DIR,
    upgrade: bool = False,
) -> dict[str, str]:
    """{template path: text} as `helm template` renders it; raises helm_python.HelmError.

    `Chart.render()` exposes neither `.Capabilities.APIVersions` nor the Kubernetes
    version; the native `helm_render` it wraps takes both as options (like `helm template
    --api-versions/--kube-version`), with the values JSON-encoded as `Chart.render` does.
    Helm applies values.schema.json and the chart's `fail` rules here, as it does on
    install.
    """
    options: dict[str, Any] = {"name": release, "namespace": namespace}
    if api_versions:
        options["api_versions"] = list(api_versions)
    if kube_version:
        options["kube_version"] = kube_version
    if upgrade:
        # .Release.IsUpgrade instead of IsInstall: what `pulumi up` applies to a
        # release that exists (the first install differs in its rollout strategy).
        options["is_install"] = False
        options["is_upgrade"] = True
    with helm_python.Chart.load(chart_dir) as chart:
        return json.loads(
            _native.call_string(
                "helm_render",
                chart._raw(),
                None if values is None else json.dumps(values),
                json.dumps(options),
            )
        )


def service_port() -> int:
    """The port of the chart's Service (values.yaml `service.port`)."""
    return int(chart_default("service.port"))
