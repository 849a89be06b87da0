"""Canary analysis delegated to Argo Rollouts: an AnalysisTemplate per model with a canary.

Weights stay reviewed stack config (the shared HTTPRoute); what a controller adds is
the judgement. For each model with two versions (versions[0] the stable one,
versions[1] the canary) and `canaryAnalysis.enabled`, the program applies an Argo
Rollouts AnalysisTemplate whose Prometheus metrics compare the two by the series'
`model_name` and `version` labels (the ServiceMonitor adds them): the canary's error
ratio, and its TTFT p95 against the stable version's. Before each weight step,
`kubectl argo rollouts create analysisrun --from <model>-canary` runs it; Argo's
controller measures and marks the run Successful or Failed (README: Rolling out a new
model version). Argo's Rollout, Flagger's Canary and their traffic routers are not
used: they shift weights between Services they own, which would bypass the
InferencePools and rewrite the route behind the stack (docs/progressive-delivery.md).
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.chart import chart_default
from infra.config import StackConfig
from infra.config.models import Release
from infra.custom_objects import CustomObject, CustomObjects, CustomObjectsArgs
from service.metric_names import HTTP_REQUESTS_TOTAL, TIME_TO_FIRST_TOKEN_SECONDS

# The Argo Rollouts release whose AnalysisTemplate API (argoproj.io/v1alpha1) this
# renders for (github.com/argoproj/argo-rollouts manifests/crds/analysis-template-crd.yaml;
# v1.10.2's is the same file, but its module needs go >= 1.26.10, newer than the toolchain's).
ARGO_ROLLOUTS_VERSION = "v1.10.1"
ANALYSIS_TEMPLATE_API = "argoproj.io/v1alpha1"
RATE_WINDOW = "5m"


def canary_pairs(releases: list[Release]) -> dict[str, tuple[Release, Release]]:
    """{model: (stable, canary)} for every model that runs two versions."""
    by_model: dict[str, list[Release]] = {}
    for release in releases:
        by_model.setdefault(release.model or "", []).append(release)
    return {model: (found[0], found[1]) for model, found in by_model.items() if len(found) == 2}


def _selector(config: StackConfig, release: Release, extra: str = "") -> str:
    labels = (
        f'namespace="{config.namespace}", model_name="{release.served_model_name}", '
        f'version="{release.version}"'
    )
    return "{" + labels + extra + "}"


def analysis_template_spec(config: StackConfig, stable: Release, canary: Release) -> dict[str, Any]:
    """Metrics that pass while the canary is as good as the stack's limits ask."""
    analysis = config.canary_analysis
    address = analysis.prometheus_address or chart_default("autoscaling.keda.prometheusAddress")

    def rate(metric: str, release: Release, extra: str = "") -> str:
        return f"rate({metric}{_selector(config, release, extra)}[{RATE_WINDOW}])"

    def ttft_p95(release: Release) -> str:
        bucket = rate(f"{TIME_TO_FIRST_TOKEN_SECONDS}_bucket", release)
        return f"histogram_quantile(0.95, sum by (le) ({bucket}))"

    errors = rate(HTTP_REQUESTS_TOTAL, canary, ', status=~"5.."')
    requests = rate(HTTP_REQUESTS_TOTAL, canary)

    def metric(name: str, query: str, limit: float) -> dict[str, Any]:
        # No canary traffic gives NaN, which fails: the run needs a weight above 0.
        return {
            "name": name,
            "interval": analysis.interval,
            "count": analysis.count,
            "failureLimit": 0,
            "successCondition": f"result[0] <= {limit:g}",
            "provider": {"prometheus": {"address": address, "query": query}},
        }

    return {
        "metrics": [
            metric("error-ratio", f"sum({errors}) / sum({requests})", analysis.max_error_ratio),
            metric(
                "ttft-p95-vs-stable",
                f"{ttft_p95(canary)} / {ttft_p95(stable)}",
                analysis.max_ttft_p95_ratio,
            ),
        ]
    }


def canary_analysis_args(
    config: StackConfig, releases: list[Release], namespace: pulumi.Input[str]
) -> CustomObjectsArgs:
    objects = {}
    for model, (stable, canary) in canary_pairs(releases).items():
        name = f"{model}-canary"
        spec = analysis_template_spec(config, stable, canary)
        objects[name] = CustomObject(ANALYSIS_TEMPLATE_API, "AnalysisTemplate", name, spec)
    return CustomObjectsArgs(namespace, objects)


class CanaryAnalysis(CustomObjects):
    """Argo Rollouts AnalysisTemplates that judge each model's canary against its stable."""

    TYPE = "tensorrt-llm:index:CanaryAnalysis"
