"""The server's Helm release, and prometheus-adapter when the HPA needs it.

The Release's values come from `infra.values.chart_values`, as `python -m infra.render`'s
do, so what a pull request reviews is what `pulumi up` installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.chart import chart_default, chart_path_for_helm
from infra.config import StackConfig
from infra.helm import release_status
from infra.values import chart_values
from service.metric_names import REQUESTS_WAITING

# Added to modelLoadTimeoutSeconds for Helm's wait: pulling a multi-GB CUDA image and
# scheduling happen before the startup probe's clock starts.
HELM_TIMEOUT_MARGIN_SECONDS = 600

PROMETHEUS_ADAPTER_CHART = "prometheus-adapter"
PROMETHEUS_ADAPTER_CHART_VERSION = "4.11.0"
PROMETHEUS_ADAPTER_REPO = "https://prometheus-community.github.io/helm-charts"


def release_timeout_seconds(config: StackConfig) -> int:
    return config.model_load_timeout_seconds + HELM_TIMEOUT_MARGIN_SECONDS


def prometheus_adapter_values(config: StackConfig) -> dict[str, Any]:
    """prometheus-adapter serving the server's queue gauge as a Pods custom metric, under
    the name the chart's HPA asks for (its per-pod average drives scaling)."""
    adapter = config.prometheus_adapter
    rule = {
        "seriesQuery": f'{REQUESTS_WAITING}{{namespace!="",pod!=""}}',
        "resources": {
            "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
        },
        "name": {"matches": f"^{REQUESTS_WAITING}$", "as": REQUESTS_WAITING},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }
    return {
        "prometheus": {"url": adapter.prometheus_url, "port": adapter.prometheus_port},
        # The default rules expose hundreds of metrics nobody scales on.
        "rules": {"default": False, "custom": [rule]},
    }


def service_port() -> int:
    return int(chart_default("service.port"))


class ServerRelease(pulumi.ComponentResource):
    """The tensorrt-llm chart as a Helm release (history, rollback, `helm status`)."""

    release_name: pulumi.Output[str]
    release_status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config: StackConfig,
        namespace: pulumi.Input[str],
        image_ref: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tensorrt-llm:index:ServerRelease", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=config.release_name,
                chart=chart_path_for_helm(),
                namespace=namespace,
                values=pulumi.Output.from_input(image_ref).apply(
                    lambda ref: chart_values(config, ref)
                ),
                timeout=release_timeout_seconds(config),
                # A failed upgrade removes what it created instead of leaving half a rollout.
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=child,
        )
        if config.prometheus_adapter.enabled:
            k8s.helm.v3.Release(
                f"{name}-prometheus-adapter",
                k8s.helm.v3.ReleaseArgs(
                    name=PROMETHEUS_ADAPTER_CHART,
                    chart=PROMETHEUS_ADAPTER_CHART,
                    version=PROMETHEUS_ADAPTER_CHART_VERSION,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_ADAPTER_REPO),
                    namespace=config.prometheus_adapter.namespace,
                    values=prometheus_adapter_values(config),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.release_name = release.name.apply(lambda value: value or config.release_name)
        self.release_status = release_status(release)
        self.register_outputs(
            {"releaseName": self.release_name, "releaseStatus": self.release_status}
        )
