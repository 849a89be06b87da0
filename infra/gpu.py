"""GPU nodes: NVIDIA's device plugin, which advertises GPUs to the scheduler.

It mounts hostPath (the kubelet's device-plugin socket), so it gets its own namespace
labelled `privileged`; the server's namespace stays `restricted`. Skipped when the
stack has no GPUs or the GPU Operator already runs a device plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.helm import PinnedChart, release_status, upstream_release
from infra.namespace import pod_security_labels

DEVICE_PLUGIN_CHART = PinnedChart(
    name="nvidia-device-plugin",
    version="0.17.1",
    repo="https://nvidia.github.io/k8s-device-plugin",
)


def device_plugin_values(config: StackConfig) -> dict[str, Any]:
    """Values for NVIDIA's chart: run on the stack's GPU nodes, tolerate their taints."""
    gpu = config.gpu
    values: dict[str, Any] = {
        # Setting tolerations replaces the chart's list, so its two defaults come along.
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": gpu.resource_name, "operator": "Exists", "effect": "NoSchedule"},
            *gpu.tolerations,
        ],
    }
    if gpu.node_selector:
        values["nodeSelector"] = dict(gpu.node_selector)
        # The chart's default affinity wants an NFD label or nvidia.com/gpu.present=true;
        # with an explicit node selector that requirement only hides the plugin, so drop
        # it (null removes a chart default; an empty map would be merged into it).
        values["affinity"] = None
    return values


@dataclass(frozen=True)
class GpuDevicePluginArgs:
    namespace: str
    values: dict[str, Any]

    @classmethod
    def for_stack(cls, config: StackConfig) -> GpuDevicePluginArgs:
        return cls(config.gpu.device_plugin_namespace, device_plugin_values(config))


class GpuDevicePlugin(pulumi.ComponentResource):
    """NVIDIA device plugin DaemonSet (pinned chart) in its own privileged namespace."""

    release_status: pulumi.Output[str]

    def __init__(
        self, name: str, args: GpuDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tensorrt-llm:index:GpuDevicePlugin", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=pod_security_labels("privileged", "latest")
            ),
            opts=child,
        )
        release = upstream_release(
            f"{name}-release",
            DEVICE_PLUGIN_CHART,
            namespace=namespace.metadata.apply(lambda meta: meta.name),
            values=args.values,
            # null removes a chart default (see device_plugin_values).
            allow_null_values=True,
            opts=child,
        )
        self.release_status = release_status(release)
        self.register_outputs({"releaseStatus": self.release_status})
