"""KEDA: the autoscaler behind autoscaling.mode keda, when the stack installs it.

KEDA's operator turns the chart's ScaledObject into an HPA fed by its own metrics
server, querying Prometheus directly; it replaces prometheus-adapter, which upstream
is deprecating. It is cluster-wide (CRDs, an APIService for external metrics), so it
gets its own namespace; a cluster that already runs KEDA leaves keda.install off.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.helm import PinnedChart, release_status, upstream_release
from infra.namespace import pod_security_labels

# kedacore/charts publishes chart versions equal to KEDA's release tags
# (kedacore/keda v2.20.2, commit 68a5b5028f35b22d50597c69819ab32c4e92f21a).
KEDA_CHART = PinnedChart(name="keda", version="2.20.2", repo="https://kedacore.github.io/charts")


@dataclass(frozen=True)
class KedaArgs:
    namespace: str

    @classmethod
    def for_stack(cls, config: StackConfig) -> KedaArgs:
        return cls(config.keda.namespace)


class Keda(pulumi.ComponentResource):
    """KEDA operator, metrics server and admission webhooks (pinned chart)."""

    release_status: pulumi.Output[str]

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tensorrt-llm:index:Keda", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                # baseline: KEDA's chart defaults were not checked against restricted here;
                # the server's own namespace stays restricted.
                labels=pod_security_labels("baseline", "latest"),
            ),
            opts=child,
        )
        release = upstream_release(
            f"{name}-release",
            KEDA_CHART,
            namespace=namespace.metadata.apply(lambda meta: meta.name),
            values={},
            opts=child,
        )
        self.release_status = release_status(release)
        self.register_outputs({"releaseStatus": self.release_status})
