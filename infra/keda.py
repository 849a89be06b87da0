"""KEDA: the autoscaler behind autoscaling.mode keda, when the stack installs it.

KEDA's operator turns the chart's ScaledObject into an HPA fed by its own metrics
server, querying Prometheus directly; it replaces prometheus-adapter, which upstream
is deprecating. It is cluster-wide (CRDs, an APIService for external metrics), so it
gets its own namespace; a cluster that already runs KEDA leaves keda.install off.
"""

from __future__ import annotations

from infra.helm import PinnedChart, UpstreamChart
from infra.namespace import pod_security_labels

# kedacore/charts publishes chart versions equal to KEDA's release tags
# (kedacore/keda v2.20.2, commit 68a5b5028f35b22d50597c69819ab32c4e92f21a).
KEDA_CHART = PinnedChart(name="keda", version="2.20.2", repo="https://kedacore.github.io/charts")


class Keda(UpstreamChart):
    """KEDA operator, metrics server and admission webhooks (pinned chart)."""

    TYPE = "tensorrt-llm:index:Keda"
    CHART = KEDA_CHART
    # baseline: KEDA's chart defaults were not checked against restricted here; the
    # server's own namespace stays restricted.
    NAMESPACE_LABELS = pod_security_labels("baseline", "latest")
