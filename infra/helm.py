"""Helm releases of pinned upstream charts (cluster add-ons), and what the program reads
back from any release."""

from __future__ import annotations

from collections.abc import Sequence
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


def release_status(release: k8s.helm.v3.Release) -> pulumi.Output[str]:
    """Helm's status for the release (deployed, failed, ...), "unknown" before it has one."""
    return release.status.apply(lambda status: status.status if status else "unknown")


@dataclass(frozen=True)
class UpstreamChartArgs:
    namespace: str
    values: dict[str, Any]


class UpstreamChart(pulumi.ComponentResource):
    """A component that installs one pinned upstream chart; subclasses name the chart.

    With `namespace_labels` it creates the namespace too (labelled, e.g. for Pod
    Security); otherwise the namespace is the cluster's (monitoring, say).
    """

    release_status: pulumi.Output[str]

    def __init__(
        self,
        type_token: str,
        name: str,
        chart: PinnedChart,
        args: UpstreamChartArgs,
        opts: pulumi.ResourceOptions | None,
        *,
        namespace_labels: dict[str, str] | None = None,
        aliases: Sequence[pulumi.Alias] = (),
    ) -> None:
        super().__init__(type_token, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace: pulumi.Input[str] = args.namespace
        if namespace_labels is not None:
            created = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels=namespace_labels),
                opts=child,
            )
            namespace = created.metadata.apply(lambda meta: meta.name)
        needs = self.namespace_objects(name, namespace, child)
        # Named after the chart: one per cluster, as the chart's own docs install it.
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=chart.name,
                chart=chart.name,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                namespace=namespace,
                values=args.values,
            ),
            opts=pulumi.ResourceOptions(parent=self, aliases=list(aliases), depends_on=needs),
        )
        self.release_status = release_status(release)
        self.register_outputs({"releaseStatus": self.release_status})

    def namespace_objects(
        self, name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """Objects the chart needs in its namespace before it installs (none here)."""
        return []
