"""The Pulumi program: stack file -> config -> components -> chart values -> Release.

Config is validated completely (its own rules and the chart's) before the first
resource is registered; a bad stack stops here with one line per bad key.
"""

import pulumi

from infra.canary_analysis import CanaryAnalysis, canary_analysis_args, canary_pairs
from infra.chart import service_port
from infra.config.models import releases
from infra.gpu import GpuDevicePlugin, device_plugin_values
from infra.helm import UpstreamChartArgs
from infra.image import ServerImage, ServerImageArgs
from infra.keda import Keda
from infra.model_cache import ModelCachePrefill, ModelCachePrefillArgs
from infra.model_routes import ModelRoutes, model_routes_args
from infra.namespace import ServerNamespace, ServerNamespaceArgs
from infra.prometheus_adapter import PrometheusAdapter, prometheus_adapter_values
from infra.release import ServerRelease, ServerReleaseArgs, release_timeout_seconds
from infra.service_secrets import ServerSecrets, ServerSecretsArgs
from infra.stack import load
from infra.values import release_values

config = load()

# Cluster-wide add-ons the stack asks for: each a pinned chart, its namespace and values.
device_plugin = (
    [
        GpuDevicePlugin(
            "gpu",
            UpstreamChartArgs(config.gpu.device_plugin_namespace, device_plugin_values(config)),
        )
    ]
    if config.device_plugin_enabled
    else []
)
if config.prometheus_adapter.enabled:
    PrometheusAdapter(
        "prometheus-adapter",
        UpstreamChartArgs(config.prometheus_adapter.namespace, prometheus_adapter_values(config)),
    )
# The chart's ScaledObject is rendered only where KEDA's CRD exists: KEDA comes first.
keda = (
    [Keda("keda", UpstreamChartArgs(config.keda.namespace, values={}))]
    if config.keda.install
    else []
)

# The server: its namespace and Secrets, its image, then the chart with the image's digest.
namespace = ServerNamespace("server-namespace", ServerNamespaceArgs.for_stack(config))
secrets = ServerSecrets("server-secrets", ServerSecretsArgs.for_stack(config, namespace.name))
image = ServerImage("server-image", ServerImageArgs.for_stack(config))
# One release of the chart per model version (one for a stack without `models`); each
# model's cache is filled before its release, so no pod starts without its model.
stack_releases = releases(config)
server_releases = []
for stack_release in stack_releases:
    release_config = stack_release.config
    suffix = stack_release.resource_name.removeprefix("server")
    prefill = (
        [
            ModelCachePrefill(
                f"model-cache{suffix}",
                ModelCachePrefillArgs.for_stack(release_config, image.image_ref),
                opts=pulumi.ResourceOptions(depends_on=[namespace, secrets]),
            )
        ]
        if release_config.model_cache_prefill
        else []
    )
    server_releases.append(
        ServerRelease(
            stack_release.resource_name,
            ServerReleaseArgs(
                release_name=release_config.release_name,
                namespace=namespace.name,
                values=release_values(stack_release, image.image_ref),
                timeout_seconds=release_timeout_seconds(release_config),
            ),
            opts=pulumi.ResourceOptions(
                depends_on=[namespace, secrets, *device_plugin, *keda, *prefill]
            ),
        )
    )
# Several models behind one Gateway: one HTTPRoute splits by model and version, after
# the pools it sends to exist.
if config.models and config.routing.mode == "inferencePool":
    ModelRoutes(
        "model-routes",
        model_routes_args(config, stack_releases, namespace.name),
        opts=pulumi.ResourceOptions(depends_on=server_releases),
    )

if config.canary_analysis.enabled and canary_pairs(stack_releases):
    CanaryAnalysis(
        "canary-analysis",
        canary_analysis_args(config, stack_releases, namespace.name),
        opts=pulumi.ResourceOptions(depends_on=[namespace]),
    )

port = service_port()
pulumi.export("namespace", namespace.name)
pulumi.export("imageRef", image.image_ref)
if not config.models:
    release = server_releases[0]
    pulumi.export("releaseName", release.release_name)
    pulumi.export("releaseStatus", release.release_status)
    pulumi.export(
        "serviceUrl",
        pulumi.Output.format(
            "http://{0}.{1}.svc.cluster.local:{2}", release.release_name, namespace.name, port
        ),
    )
    pulumi.export(
        "portForwardCommand",
        pulumi.Output.format(
            "kubectl --namespace {0} port-forward service/{1} {2}:{2}",
            namespace.name,
            release.release_name,
            port,
        ),
    )
else:
    # Several releases: each one's status by release name.
    pulumi.export(
        "releaseStatuses",
        pulumi.Output.all(
            *[
                pulumi.Output.all(r.release_name, r.release_status).apply(tuple)
                for r in server_releases
            ]
        ).apply(dict),
    )
