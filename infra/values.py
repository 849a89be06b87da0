"""Stack config -> the chart's values, and the chart's verdict on them.

`chart_values(config, image_ref)` is the ONE place stack config becomes chart values:
the Release and `python -m infra.render` both call it, so what a pull request reviews
is what `pulumi up` installs.

The chart owns its cross-value rules (templates/_validations.tpl) and its schema
(values.schema.json). `chart_issues(config)` renders the chart offline with the stack's
values, as Helm will on install, and turns what Helm refuses into config issues naming
the stack key, so a stack the chart would refuse stops before any resource exists.
"""

from __future__ import annotations

import re
from typing import Any

import helm_python
import pulumi

from infra.chart import render_chart
from infra.config import ConfigIssue, StackConfig
from infra.config.models import Release, expand, for_release
from infra.config.schema import ModelConfig
from infra.config.spot import SPOT_CONVENTIONS
from infra.image import parse_image_ref
from infra.service_secrets import API_KEYS_KEY, HF_TOKEN_KEY, secret_names

# A stack that builds its image learns the digest from the push; offline renders and the
# chart check use this one in its place.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
PLACEHOLDER_REPOSITORY = "registry.invalid/tensorrt-llm"
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"
VOLUME_SNAPSHOT_API = "snapshot.storage.k8s.io/v1/VolumeSnapshot"
SCALED_OBJECT_API = "keda.sh/v1alpha1/ScaledObject"
LEADER_WORKER_SET_API = "leaderworkerset.x-k8s.io/v1/LeaderWorkerSet"
INFERENCE_POOL_APIS = (
    "inference.networking.k8s.io/v1/InferencePool",
    "gateway.networking.k8s.io/v1/HTTPRoute",
)


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
    # Without a host the chart gets no hosts, and its own rule says what is missing.
    host = [ingress.host] if ingress.host else []
    values: dict[str, Any] = {
        "enabled": True,
        "annotations": dict(ingress.annotations),
        "hosts": [{"host": h, "paths": [{"path": "/", "pathType": "Prefix"}]} for h in host],
        "tls": (
            [{"secretName": ingress.tls_secret_name, "hosts": host}]
            if ingress.tls_secret_name and host
            else []
        ),
    }
    if ingress.class_name:
        values["className"] = ingress.class_name
    return values


def _routing_values(config: StackConfig) -> dict[str, Any]:
    routing = config.routing
    gateway = {"name": routing.gateway.name}
    if routing.gateway.namespace:
        gateway["namespace"] = routing.gateway.namespace
    return {
        "mode": routing.mode,
        "inferencePool": {
            "gateway": gateway,
            "hostnames": list(routing.hostnames),
            "endpointPicker": {"flowControl": {"enabled": routing.flow_control}},
        },
    }


def spot_priority_class_name(config: StackConfig) -> str:
    """The PriorityClass of the stack's spot pods (cluster-scoped: named after the namespace)."""
    return f"{config.namespace}-spot"


def _spot_values(config: StackConfig) -> dict[str, Any]:
    spot = config.spot
    convention = SPOT_CONVENTIONS.get(spot.provider or "")
    return {
        "enabled": True,
        "onDemandReplicas": spot.on_demand_replicas,
        # Without a provider the chart's own rule names what is missing.
        "nodeLabels": convention.node_labels() if convention else [],
        "tolerations": convention.tolerations() if convention else [],
        "priorityClassName": spot_priority_class_name(config),
    }


def chart_values(config: StackConfig, image_ref: pulumi.Input[str]) -> dict[str, Any]:
    """The chart values for a stack; keys left out keep the chart's defaults.

    Only `image` waits for an image reference given as an Output: one still unknown in
    preview (an image about to be built) leaves every other value known, so the preview
    diff still shows them.
    """
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
        "image": (
            _image_values(config, image_ref)
            if isinstance(image_ref, str)
            else pulumi.Output.from_input(image_ref).apply(lambda ref: _image_values(config, ref))
        ),
        "imagePullSecrets": [{"name": names.image_pull}] if names.image_pull else [],
        "engine": config.engine,
        "tensorParallelSize": config.tensor_size,
        "parallelism": {
            "pipeline": config.parallelism.pipeline,
            "nodes": config.parallelism.nodes,
            "exclusiveTopology": config.parallelism.exclusive_topology or "",
        },
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
        "routing": _routing_values(config),
    }
    if config.spot.enabled:
        # Left out when off, so a stack without spot previews no change from this key.
        values["spot"] = _spot_values(config)
    if config.gpu.enabled:
        values["nodeSelector"] = dict(config.gpu.node_selector)
        values["tolerations"] = list(config.gpu.tolerations)
    for key, group in passthrough.items():
        dumped = group.model_dump(by_alias=True, exclude_none=True, exclude=_PROGRAM_ONLY.get(key))
        if dumped:
            values[key] = dumped
    if config.model_cache_prefill:
        # The download shares the model-load budget (a cache hit then loads quickly).
        values.setdefault("modelCache", {})["prefillJob"] = {
            "activeDeadlineSeconds": config.model_load_timeout_seconds
        }
    if config.model_cache_quantize:
        # The profile's quantization is what the Job produces, on the GPUs the 16-bit
        # checkpoint needs (the serving pods may need fewer for the quantized one).
        values.setdefault("modelCache", {})["quantizeJob"] = {
            "quantization": config.model.quantization,
            "gpus": config.quantize_gpus or config.tensor_parallel_size,
        }
    if config.model.kv_cache_dtype != "auto":
        # The profile's KV-cache dtype reaches the engine as the LLM API option it is.
        server = values.setdefault("server", {})
        options = dict(server.get("engineOptions") or {})
        options["kv_cache_config"] = {
            **(options.get("kv_cache_config") or {}),
            "dtype": config.model.kv_cache_dtype,
        }
        server["engineOptions"] = options
    return values


def release_values(release: Release, image_ref: pulumi.Input[str]) -> dict[str, Any]:
    """chart_values of one of the stack's releases: a `models` release carries its version
    (a label on its series) and leaves the HTTPRoute to the stack's shared one."""
    values = chart_values(release.config, image_ref)
    if release.model is not None:
        values["modelVersion"] = release.version
        values["routing"]["inferencePool"]["httpRoute"] = {"enabled": False}
        if release.listed_models:
            values.setdefault("model", {})["listedModels"] = list(release.listed_models)
        if not release.primary:
            # One dashboard per stack: its panels already split by model and version.
            values["monitoring"]["dashboard"]["enabled"] = False
    return values


# Fields of passed-through groups that the program checks and translates itself.
_PROGRAM_ONLY = {"model": set(ModelConfig.PROFILE_KEYS)}


def offline_image_ref(config: StackConfig) -> str:
    """The image reference to render with before (or without) a push."""
    repository = config.image.repository or PLACEHOLDER_REPOSITORY
    return config.image.ref or f"{repository}@{PLACEHOLDER_DIGEST}"


def expected_cluster_apis(config: StackConfig) -> list[str]:
    """Optional APIs (CRDs) the stack's cluster serves: a stack that asks for monitoring
    runs where the Prometheus operator is, one that snapshots its model cache where
    the CSI snapshot CRDs are, one on KEDA or an InferencePool where those CRDs are (or
    the program installs them first), a multi-node one where LeaderWorkerSet runs; Helm
    sees those APIs there, so render as it would."""
    apis = []
    if config.monitoring.enabled:
        apis.append(SERVICE_MONITOR_API)
    snapshot = config.model_cache.snapshot
    if snapshot is not None and snapshot.name:
        apis.append(VOLUME_SNAPSHOT_API)
    if config.autoscaling.enabled and config.autoscaling.mode == "keda":
        apis.append(SCALED_OBJECT_API)
    if config.routing.mode == "inferencePool":
        apis.extend(INFERENCE_POOL_APIS)
    if config.multi_node:
        apis.append(LEADER_WORKER_SET_API)
    return apis


def render_stack(config: StackConfig, values: dict[str, Any] | None = None) -> dict[str, str]:
    """{template path: manifest} as Helm would install it into the stack's namespace
    (`values` default: chart_values of the config with the offline image reference)."""
    files = render_chart(
        values if values is not None else chart_values(config, offline_image_ref(config)),
        release=config.release_name,
        namespace=config.namespace,
        api_versions=expected_cluster_apis(config),
    )
    return {
        path: text
        for path, text in sorted(files.items())
        if text.strip() and not path.endswith("NOTES.txt")
    }


# Chart value paths that chart_values fills from a differently named stack key. A path
# ending in "." maps a group (the rest of the path follows); any other maps one key.
# Paths not listed are spelt the same in the stack (chart_values passes them through).
_STACK_KEY_OF_CHART_PATH = {
    "fullnameOverride": "releaseName",
    "replicaCount": "replicas",
    "rollingUpdate.": "rollout.",
    "monitoring.serviceMonitor.": "monitoring.",
    "monitoring.dashboard": "monitoring.dashboard",
    "ingress.hosts": "ingress.host",
    "ingress.tls": "ingress.tlsSecretName",
    "routing.inferencePool.gateway.": "routing.gateway.",
    "routing.inferencePool.hostnames": "routing.hostnames",
    "routing.inferencePool.endpointPicker.flowControl": "routing.flowControl",
    "image": "image.ref",
    "imagePullSecrets": "registry.private",
    "secrets.hfToken": "hfToken",
    "secrets.apiKeys": "apiKeys",
    "nodeSelector": "gpu.nodeSelector",
    "spot.nodeLabels": "spot.provider",
    "spot.tolerations": "spot.provider",
    "spot.priorityClassName": "spot.enabled",
    "tolerations": "gpu.tolerations",
    # parallelism.tensor, when set, fills the chart's tensor degree.
    "tensorParallelSize": "tensorParallelSize",
    "probes.startup": "modelLoadTimeoutSeconds",
    "modelCache.prefillJob.activeDeadlineSeconds": "modelLoadTimeoutSeconds",
    "modelCache.quantizeJob.quantization": "model.quantization",
    "modelCache.quantizeJob.gpus": "modelCache.quantize",
    # The grace period is the chart's; the stack's lever on that rule is the drain time.
    "terminationGracePeriodSeconds": "server.drainTimeoutSeconds",
}


def stack_key(chart_path: str) -> str:
    """The stack key that sets a chart value (`rollingUpdate.maxSurge` -> `rollout.maxSurge`)."""
    for prefix in sorted(_STACK_KEY_OF_CHART_PATH, key=len, reverse=True):
        group = prefix.endswith(".")
        if chart_path.startswith(prefix) if group else _within(chart_path, prefix):
            target = _STACK_KEY_OF_CHART_PATH[prefix]
            return target + chart_path[len(prefix) :] if group else target
    return chart_path


def _within(path: str, key: str) -> bool:
    return path == key or path.startswith(key + ".")


# The header of the chart's one `fail` (templates/_validations.tpl); one rule per line follows.
_RULES_HEADER = re.compile(r"invalid values for the [^\n]* chart:\n")
# A values.schema.json violation as Helm lists it: `- at '/a/b/0/c': why`.
_SCHEMA_LINE = re.compile(r"^- at '(?P<pointer>[^']*)': (?P<why>.+)$", re.MULTILINE)


def _issue(chart_path: str, why: str) -> ConfigIssue:
    key = stack_key(chart_path)
    return ConfigIssue(key, why if key == chart_path else f"chart value {chart_path}: {why}")


def chart_issues(config: StackConfig) -> list[ConfigIssue]:
    """What the chart refuses in the values of each of the stack's releases, each naming
    the stack key to change (a `models` entry's key where the entry sets it).

    A render failure that is no verdict on values (a template bug) propagates as the
    HelmError it is: no stack key can fix it.
    """
    found, problems = expand(config)
    if problems:
        return []  # parse() reports them; no release can be rendered
    issues: list[ConfigIssue] = []
    for release in found:
        values = release_values(release, offline_image_ref(release.config))
        issues += [
            for_release(issue, config, release)
            for issue in _release_chart_issues(release.config, values)
        ]
    return issues


def _release_chart_issues(config: StackConfig, values: dict[str, Any]) -> list[ConfigIssue]:
    try:
        render_stack(config, values)
    except helm_python.HelmError as error:
        text = str(error)
        header = _RULES_HEADER.search(text)
        if header:
            rules = [line.strip() for line in text[header.end() :].splitlines() if line.strip()]
            return [_issue(*rule.partition(": ")[::2]) for rule in rules]
        pointers = [(m["pointer"], m["why"]) for m in _SCHEMA_LINE.finditer(text)]
        if pointers:
            return [_issue(_dotted(pointer), why) for pointer, why in pointers]
        raise
    return []


def _dotted(pointer: str) -> str:
    """`/ingress/hosts/0/host` -> `ingress.hosts.host` (list positions dropped)."""
    return ".".join(part for part in pointer.strip("/").split("/") if not part.isdigit())
