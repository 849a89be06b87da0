"""What the program reads back from the Helm releases it manages."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s


def release_status(release: k8s.helm.v3.Release) -> pulumi.Output[str]:
    """Helm's status for the release (deployed, failed, ...), "unknown" before it has one."""
    return release.status.apply(lambda status: status.status if status else "unknown")
