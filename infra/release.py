"""The server's Helm release, and prometheus-adapter when the HPA needs it.

`chart_values(config, image_ref)` is the ONE place stack config becomes chart values:
the Release below and `python -m infra.render` both call it, so what a pull request
reviews is what `pulumi up` installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.chart import chart_default, chart_path_for_helm
from infra.config import StackConfig
from infra.helm import release_status
from infra.image import parse_image_ref
from infra.service_secrets import API_KEYS_KEY, HF_TOKEN_KEY, secret_names
from service.metric_names import REQUESTS_WAITING

# Added to modelLoadTimeoutSeconds for Helm's wait: pulling a multi-GB CUDA image and
# scheduling happen before the startup probe's clock starts.
HELM_TIMEOUT_MARGIN_SECONDS = 600

PROMETHEUS_ADAPTER_CHART = "prometheus-adapter"
PROMETHEUS_ADAPTER_CHART_VERSION = "4.11.0"
PROMETHEUS_ADAPTER_REPO = "https://prometheus-community.github.io/helm-charts"


def _image_values(config: StackConfig, image_ref: str) -> dict[str, Any]:
    ref = parse_image_ref(image_ref)
    values: dict[str, Any] = {"repository": ref.repository}
    if ref.digest:
        values["digest"] = ref.digest
    else:
        # An untagged reference means :latest to Docker; the chart would use appVersion.
        values["tag"] = ref.tag or "latest"
    if config.image.pull_policy:
        values["pullPolicy"] = config.image.pull_policy
    return values


def _ingress_values(config: StackConfig) -> dict[str, Any]:
    ingress = config.ingress
    if not ingress.enabled:
        return {"enabled": False}
    values: dict[str, Any] = {
        "enabled": True,
        "annotations": dict(ingress.annotations),
        "hosts": [{"host": ingress.host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": (
            [{"secretName": ingress.tls_secret_name, "hosts": [ingress.host]}]
            if ingress.tls_secret_name
            else []
        ),
    }
    if ingress.class_name:
        values["className"] = ingress.class_name
    return values


def chart_values(config: StackConfig, image_ref: str) -> dict[str, Any]:
    """The chart values for a stack; keys left out keep the chart's defaults."""
    names = secret_names(config)
    # Groups whose field names are the chart's own pass through as set (None = default).
    passthrough = {
        "model": config.model,
        "server": config.server,
        "requestDefaults": config.request_defaults,
        "simulated": config.simulated,
        "modelCache": config.model_cache,
        "resources": config.resources,
        "rollingUpdate": config.rollout,
        "podDisruptionBudget": config.pod_disruption_budget,
    }
    values: dict[str, Any] = {
        # The Service, Deployment and selectors are named after the release, so the
        # stack outputs and NetworkPolicies can name them without asking Helm.
        "fullnameOverride": config.release_name,
        "replicaCount": config.replicas,
        "image": _image_values(config, image_ref),
        "imagePullSecrets": [{"name": names.image_pull}] if names.image_pull else [],
        "engine": config.engine,
        "tensorParallelSize": config.tensor_parallel_size,
        "secrets": {
            "hfToken": {"name": names.hf_token or "", "key": HF_TOKEN_KEY},
            "apiKeys": {"name": names.api_keys or "", "key": API_KEYS_KEY},
        },
        "gpu": {"enabled": config.gpu.enabled, "resourceName": config.gpu.resource_name},
        "probes": {"startup": {"failureThreshold": config.startup_failure_threshold}},
        "autoscaling": config.autoscaling.model_dump(by_alias=True, exclude_none=True),
        "monitoring": {
            "serviceMonitor": {
                "enabled": config.monitoring.enabled,
                "labels": dict(config.monitoring.labels),
                **({"interval": config.monitoring.interval} if config.monitoring.interval else {}),
            },
            "dashboard": {"enabled": config.monitoring.dashboard},
        },
        "ingress": _ingress_values(config),
    }
    if config.gpu.enabled:
        values["nodeSelector"] = dict(config.gpu.node_selector)
        values["tolerations"] = list(config.gpu.tolerations)
    for key, group in passthrough.items():
        dumped = group.model_dump(by_alias=True, exclude_none=True)
        if dumped:
            values[key] = dumped
    return values


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
