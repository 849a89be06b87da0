"""Helm releases of pinned upstream charts (cluster add-ons), and what the program reads
back from any release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from infra.component import ComponentOpts


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
    """A component that installs one pinned upstream chart; subclasses declare which.

    With NAMESPACE_LABELS it creates the namespace too (labelled, e.g. for Pod
    Security); without, the namespace is the cluster's (monitoring, say).
    """

    TYPE: ClassVar[str]
    CHART: ClassVar[PinnedChart]
    NAMESPACE_LABELS: ClassVar[dict[str, str] | None] = None

    release_status: pulumi.Output[str]

    def __init__(self, name: str, args: UpstreamChartArgs, opts: ComponentOpts = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        chart = self.CHART
        child = pulumi.ResourceOptions(parent=self)
        namespace: pulumi.Input[str] = args.namespace
        if self.NAMESPACE_LABELS is not None:
            created = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=args.namespace, labels=self.NAMESPACE_LABELS
                ),
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
            opts=pulumi.ResourceOptions(parent=self, aliases=self.aliases(), depends_on=needs),
        )
        self.release_status = release_status(release)
        self.register_outputs({"releaseStatus": self.release_status})

    def namespace_objects(
        self, name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """Objects the chart needs in its namespace before it installs (none here)."""
        return []

    def aliases(self) -> list[pulumi.Alias]:
        """Former identities of the Release, so a move does not replace it (none here)."""
        return []
