"""GPU nodes: NVIDIA's device plugin, which advertises GPUs to the scheduler.

It mounts hostPath (the kubelet's device-plugin socket), so it gets its own namespace
labelled `privileged`; the server's namespace stays `restricted`. Skipped when the
stack has no GPUs or the GPU Operator already runs a device plugin.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.helm import PinnedChart, UpstreamChart
from infra.namespace import pod_security_labels

DEVICE_PLUGIN_CHART = PinnedChart(
    name="nvidia-device-plugin",
    version="0.17.1",
    repo="https://nvidia.github.io/k8s-device-plugin",
)


# Node labels that only GPU Feature Discovery sets (NVIDIA/k8s-device-plugin, GFD's
# labelers): a GPU node carries none of them until GFD runs there. The `nvidia.com/
# gpu.present` label is the one people set by hand (and the chart's affinity accepts).
GFD_LABEL_PREFIXES = ("nvidia.com/gpu.", "nvidia.com/cuda.", "nvidia.com/mig")
HAND_SET_LABELS = frozenset({"nvidia.com/gpu.present"})
# The priority class NVIDIA's chart gives its pods. Clusters that limit it to
# kube-system (GKE does) admit it elsewhere only in a namespace with a quota scoped to it.
CRITICAL_PRIORITY_CLASS = "system-node-critical"
CRITICAL_POD_QUOTA = "64"


def gfd_labels(node_selector: dict[str, str]) -> list[str]:
    """The selector's keys that only GPU Feature Discovery puts on nodes."""
    return sorted(
        key
        for key in node_selector
        if key.startswith(GFD_LABEL_PREFIXES) and key not in HAND_SET_LABELS
    )


def feature_discovery_enabled(config: StackConfig) -> bool:
    if config.gpu.feature_discovery is not None:
        return config.gpu.feature_discovery
    return bool(gfd_labels(config.gpu.node_selector))


def device_plugin_values(config: StackConfig) -> dict[str, Any]:
    """Values for NVIDIA's chart: run on every GPU node, tolerate GPU taints, and run
    GPU Feature Discovery when the server selects nodes on labels only GFD sets.

    The plugin keeps the chart's own node affinity (NFD's NVIDIA PCI label, or
    nvidia.com/gpu.present=true set by hand) instead of the server's node selector: a
    selector on a GFD label would keep the plugin, and GFD with it, off the very nodes
    that would get the label, and the server would stay Pending for ever.
    """
    gpu = config.gpu
    tolerations = [
        # Setting tolerations replaces the chart's list, so its two defaults come along.
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"key": gpu.resource_name, "operator": "Exists", "effect": "NoSchedule"},
        *gpu.tolerations,
    ]
    values: dict[str, Any] = {"tolerations": tolerations}
    if feature_discovery_enabled(config):
        # GFD publishes its labels through Node Feature Discovery, which the chart
        # installs with it; NFD's workers must reach the same (tainted) GPU nodes.
        values["gfd"] = {"enabled": True}
        values["nfd"] = {"worker": {"tolerations": tolerations}}
    return values


class GpuDevicePlugin(UpstreamChart):
    """NVIDIA device plugin DaemonSet (pinned chart) in its own privileged namespace."""

    TYPE = "tensorrt-llm:index:GpuDevicePlugin"
    CHART = DEVICE_PLUGIN_CHART
    NAMESPACE_LABELS = pod_security_labels("privileged", "latest")

    def namespace_objects(
        self, name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        # Lets the chart's system-node-critical pods in where the cluster confines that
        # class to kube-system unless a namespace has a quota scoped to it (GKE).
        critical_quota = k8s.core.v1.ResourceQuota(
            f"{name}-critical-pods",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="critical-pods", namespace=namespace),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={"pods": CRITICAL_POD_QUOTA},
                scope_selector=k8s.core.v1.ScopeSelectorArgs(
                    match_expressions=[
                        k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                            scope_name="PriorityClass",
                            operator="In",
                            values=[CRITICAL_PRIORITY_CLASS],
                        )
                    ]
                ),
            ),
            opts=opts,
        )
        return [critical_quota]
