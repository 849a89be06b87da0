"""prometheus-adapter: the server's queue gauge as a Pods custom metric for the HPA.

The chart's HPA scales on the per-pod average of trtllm_num_requests_waiting, which the
custom metrics API serves only once an adapter maps the Prometheus series to it. The
adapter is cluster-wide (it registers an APIService), so it lives in the monitoring
namespace, next to the Prometheus it queries.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import StackConfig
from infra.helm import PinnedChart, UpstreamChart
from service.metric_names import REQUESTS_WAITING

PROMETHEUS_ADAPTER_CHART = PinnedChart(
    name="prometheus-adapter",
    version="4.11.0",
    repo="https://prometheus-community.github.io/helm-charts",
)

# Where the adapter lived before it was its own component: the alias keeps `pulumi up`
# from replacing the running adapter (and its APIService) on stacks created back then.
_FORMER_NAME, _FORMER_PARENT = (
    "server-prometheus-adapter",
    ("server", "tensorrt-llm:index:ServerRelease"),
)


def prometheus_adapter_values(config: StackConfig) -> dict[str, Any]:
    """The queue gauge as a Pods custom metric under the name the chart's HPA asks for."""
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


class PrometheusAdapter(UpstreamChart):
    """prometheus-adapter (pinned chart) serving the HPA's custom metric."""

    TYPE = "tensorrt-llm:index:PrometheusAdapter"
    CHART = PROMETHEUS_ADAPTER_CHART

    def aliases(self) -> list[pulumi.Alias]:
        return [pulumi.Alias(name=_FORMER_NAME, parent=pulumi.create_urn(*_FORMER_PARENT))]
