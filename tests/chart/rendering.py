"""Render the chart with the real Helm engine for the chart tests, through the program's
own `infra.chart.render_chart` (which also takes the API versions and Kubernetes version
the ServiceMonitor and preStop tests need).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.chart import CHART_DIR, render_chart

RELEASE = "llm"
NAMESPACE = "inference"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """One render: every object with the template that produced it, plus NOTES.txt."""

    objects: list[tuple[str, Manifest]]
    notes: str

    def kinds(self) -> list[str]:
        return sorted(obj["kind"] for _, obj in self.objects)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [obj for _, obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> Manifest:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}: {self.kinds()}"
        return found[0]

    def yaml_stream(self) -> str:
        return yaml.safe_dump_all([obj for _, obj in self.objects], sort_keys=False)


@dataclass(frozen=True)
class Scenario:
    """A values set the tests render, with the cluster it pretends to render for."""

    values: dict[str, Any]
    api_versions: Sequence[str] = ()
    kube_version: str | None = None
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def render(
    values: dict[str, Any] | None = None,
    *,
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    release: str = RELEASE,
    chart_dir: Path = CHART_DIR,
) -> Rendered:
    """Render like `helm template llm CHART -n inference`; raises helm_python errors."""
    files = render_chart(
        values,
        release=release,
        namespace=NAMESPACE,
        api_versions=api_versions,
        kube_version=kube_version,
        chart_dir=chart_dir,
    )
    objects: list[tuple[str, Manifest]] = []
    notes = ""
    for template, text in sorted(files.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend((template, doc) for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects=objects, notes=notes)


def pod_templates(rendered: Rendered) -> Iterator[tuple[str, Manifest, Manifest]]:
    """(where, metadata, spec) of every pod the objects would create."""
    for template, obj in rendered.objects:
        if obj["kind"] == "Pod":
            yield f"{template} Pod", obj["metadata"], obj["spec"]
        elif obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
            pod = obj["spec"]["template"]
            yield f"{template} {obj['kind']}", pod.get("metadata", {}), pod["spec"]
        elif obj["kind"] == "LeaderWorkerSet":
            for role in ("leaderTemplate", "workerTemplate"):
                pod = obj["spec"]["leaderWorkerTemplate"][role]
                yield f"{template} {role}", pod.get("metadata", {}), pod["spec"]


def server_deployment(rendered: Rendered) -> Manifest:
    """The server's Deployment (an InferencePool adds the endpoint picker's)."""
    (deployment,) = (
        obj
        for template, obj in rendered.objects
        if template.endswith("/deployment.yaml") and obj["kind"] == "Deployment"
    )
    return deployment


def server_container(rendered: Rendered) -> Manifest:
    """The container that serves HTTP: the Deployment's, or a multi-node group leader's."""
    groups = rendered.of_kind("LeaderWorkerSet")
    if groups:
        (group,) = groups
        spec = group["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
    else:
        spec = server_deployment(rendered)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "server")


def env_of(container: Manifest) -> dict[str, Any]:
    """name -> value (plain) or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
