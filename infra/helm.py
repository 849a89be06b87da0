"""Helm releases of upstream charts, and what the program reads back from any release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class PinnedChart:
    """An upstream chart at a pinned version: a new version is a reviewed change."""

    name: str
    version: str
    repo: str


def upstream_release(
    resource_name: str,
    chart: PinnedChart,
    *,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    allow_null_values: bool | None = None,
) -> k8s.helm.v3.Release:
    """A Release of `chart` named after the chart (one per cluster, like its docs install it)."""
    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            values=values,
            allow_null_values=allow_null_values,
        ),
        opts=opts,
    )


def release_status(release: k8s.helm.v3.Release) -> pulumi.Output[str]:
    """Helm's status for the release (deployed, failed, ...), "unknown" before it has one."""
    return release.status.apply(lambda status: status.status if status else "unknown")
