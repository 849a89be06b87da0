"""Every stack setting, read and validated once: `load()` -> `StackConfig`.

Nothing else in the program reads raw config. Each key is a field below, with its type,
default and description; the README table and the `config:` block of Pulumi.yaml are
generated from these fields (`python -m infra.docs --write`), so the defaults live here
only. Pulumi's mocks do not apply Pulumi.yaml defaults, which is one more reason the
code never relies on them: both places hold the same values and a test keeps it so.

Shape of the keys:
- Scalars that every stack sets (engine, replicas, tensorParallelSize, ...) are
  top-level keys: `pulumi config set replicas 2`.
- Groups that only make sense together (image, registry, gpu, autoscaling, quota, ...)
  are objects: they read better in a stack file, and `pulumi config set --path
  autoscaling.maxReplicas 4` edits one field. A stack's object replaces the default
  object whole; fields it leaves out take the defaults below.
- Secrets (registryPassword, hfToken, apiKeys) are top-level strings set with
  `pulumi config set --secret`: a secret inside an object would make the whole object
  secret and hide it from `pulumi preview --diff`.

A pass-through field whose default is None leaves the chart's (and so the server's)
own default in place; the chart owns those facts (infra/charts/tensorrt-llm/values.yaml).

Bad config raises `pulumi.RunError` naming every bad key as
`tensorrt-llm:<key>: <expected>, got <value>`, before any resource is registered.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from infra.chart import chart_default

Engine = Literal["simulated", "transformers", "tensorrt-llm"]

# Config keys whose values are secrets: set with `pulumi config set --secret KEY`.
SECRET_KEYS = ("registryPassword", "hfToken", "apiKeys")


# --- value types -----------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate("kMGTPE")},
    **{s + "i": Decimal(1024) ** (i + 1) for i, s in enumerate("KMGTPE")},
}


def quantity_value(text: str) -> Decimal:
    """A Kubernetes quantity (500m, 4, 32Gi) as a number of base units."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError("must be a Kubernetes quantity such as 500m, 4 or 32Gi")
    return Decimal(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def _check_quantity(text: str) -> str:
    quantity_value(text)
    return text


def _check_dns_label(text: str) -> str:
    if not _DNS_LABEL.match(text):
        raise ValueError("must be a DNS-1123 label (lowercase letters, digits and '-')")
    return text


def _check_cidr(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise ValueError(f"must be a CIDR block such as 0.0.0.0/0 ({error})") from None
    return text


def _check_tensor_parallel(size: int) -> int:
    # NCCL rings and the attention head split want a power of two within one node.
    if size not in (1, 2, 4, 8):
        raise ValueError("must be one of 1, 2, 4 or 8")
    return size


Quantity = Annotated[str, AfterValidator(_check_quantity)]
TensorParallelSize = Annotated[int, AfterValidator(_check_tensor_parallel)]
DnsLabel = Annotated[str, Field(max_length=63), AfterValidator(_check_dns_label)]
# Helm keeps 10 characters of the 63 for its own suffixes (release names <= 53).
ReleaseName = Annotated[str, Field(max_length=53), AfterValidator(_check_dns_label)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]


@dataclass(frozen=True)
class SecretValue:
    """A secret config value: a secret Output under Pulumi, a placeholder in infra.render."""

    value: pulumi.Output[str] | str

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"


# --- the model -------------------------------------------------------------------------


class _Group(BaseModel):
    # Keys are camelCase like Pulumi's own; unknown keys are errors so a typo in a
    # stack file never silently falls back to a default.
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
    )


class ModelConfig(_Group):
    path: str | None = Field(
        None, description="Hugging Face model id or directory the server loads (chart default)."
    )
    served_model_name: str | None = Field(
        None, description="Model name clients send and /v1/models lists (server default)."
    )
    trust_remote_code: bool | None = Field(
        None, description="Run modelling code shipped with the model repository."
    )


class ImageConfig(_Group):
    ref: str | None = Field(
        None, description="Prebuilt image (repo@sha256:... or repo:tag); skips the build."
    )
    repository: str | None = Field(
        None, description="Repository the built image is pushed to (without tag)."
    )
    tag: str | None = Field(None, description="Tag of the built image (default: the stack name).")
    target: Literal["runtime", "cpu"] | None = Field(
        None,
        description="service/Dockerfile stage: runtime (GPU, TensorRT-LLM) or cpu "
        "(default: runtime when gpu.enabled, else cpu).",
    )
    platform: str = Field("linux/amd64", description="Platform of the built image.")
    tensorrt_llm_version: str | None = Field(
        None, description="TensorRT-LLM version build arg (default: the Dockerfile's)."
    )
    pull_policy: Literal["IfNotPresent", "Always", "Never"] | None = Field(
        None, description="Image pull policy of the server pods (chart default)."
    )


class RegistryConfig(_Group):
    server: str | None = Field(
        None, description="Registry host[:port] the image is pushed to and pulled from."
    )
    username: str | None = Field(None, description="Registry user (password: registryPassword).")
    private: bool = Field(
        False,
        description="Pods need credentials to pull: creates a dockerconfigjson pull secret.",
    )


class GpuConfig(_Group):
    enabled: bool = Field(False, description="Schedule the server on GPU nodes and request GPUs.")
    resource_name: str = Field(
        "nvidia.com/gpu", description="Extended resource the device plugin advertises."
    )
    gpus_per_node: int = Field(
        8, ge=1, description="GPUs on one node; tensorParallelSize must divide it."
    )
    provisioner: Literal["device-plugin", "gpu-operator"] = Field(
        "device-plugin",
        description="Who advertises GPUs: this program installs the NVIDIA device plugin, "
        "or the GPU Operator already does.",
    )
    device_plugin_namespace: DnsLabel = Field(
        "nvidia-device-plugin", description="Namespace of the device plugin (privileged)."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Labels of the GPU nodes (server and device plugin)."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Extra tolerations for GPU node taints."
    )


class ResourceList(_Group):
    cpu: Quantity | None = Field(None, description="CPU quantity.")
    memory: Quantity | None = Field(None, description="Memory quantity.")


class ResourcesConfig(_Group):
    requests: ResourceList | None = Field(
        None, description="Server container requests, without GPUs (chart default)."
    )
    limits: ResourceList | None = Field(
        None, description="Server container limits, without GPUs (chart default)."
    )


class ServerConfig(_Group):
    max_batch_size: int | None = Field(None, ge=1, description="Engine batch size.")
    max_num_tokens: int | None = Field(None, ge=1, description="Token budget per iteration.")
    kv_cache_free_gpu_memory_fraction: float | None = Field(
        None, gt=0, le=1, description="Share of free GPU memory for the KV cache."
    )
    max_concurrent_requests: int | None = Field(None, ge=1, description="Requests in flight.")
    max_queued_requests: int | None = Field(None, ge=0, description="Requests waiting.")
    drain_timeout_seconds: int | None = Field(None, ge=0, description="Drain time on SIGTERM.")
    log_level: Literal["debug", "info", "warning", "error", "critical"] | None = Field(
        None, description="Server log level."
    )
    log_format: Literal["json", "text"] | None = Field(None, description="Server log format.")


class RequestDefaultsConfig(_Group):
    max_tokens: int | None = Field(None, ge=1, description="Default max_tokens.")
    temperature: float | None = Field(None, ge=0, le=2, description="Default temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Default top_p.")


class SimulatedConfig(_Group):
    ttft_ms: float | None = Field(None, ge=0, description="Simulated time to first token.")
    itl_ms: float | None = Field(None, ge=0, description="Simulated inter-token latency.")
    max_batch: int | None = Field(None, ge=1, description="Simulated batch size.")


class AutoscalingConfig(_Group):
    enabled: bool = Field(False, description="HPA on trtllm_requests_waiting per pod.")
    min_replicas: int | None = Field(None, ge=1, description="Fewest pods (required if enabled).")
    max_replicas: int | None = Field(None, ge=1, description="Most pods (required if enabled).")
    target_requests_waiting: float | None = Field(
        None, gt=0, description="Average waiting requests per pod the HPA aims for."
    )
    scale_down_stabilization_seconds: int | None = Field(
        None, ge=0, description="Seconds of lower demand before scaling down."
    )


class RolloutConfig(_Group):
    max_surge: int | None = Field(
        None, ge=0, description="Extra pods during a rollout (chart default; counts in quota)."
    )
    max_unavailable: int | None = Field(
        None, ge=0, description="Pods a rollout may take down at once (chart default)."
    )


class PodDisruptionBudgetConfig(_Group):
    max_unavailable: int | None = Field(
        None, ge=1, description="Pods a voluntary disruption may take down (chart default)."
    )


class MonitoringConfig(_Group):
    enabled: bool = Field(False, description="Create a ServiceMonitor for Prometheus.")
    interval: str | None = Field(None, description="Scrape interval (chart default).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="ServiceMonitor labels your Prometheus selects on."
    )
    dashboard: bool = Field(False, description="Ship the Grafana dashboard ConfigMap.")


class PrometheusAdapterConfig(_Group):
    enabled: bool = Field(
        False, description="Install prometheus-adapter exposing trtllm_requests_waiting."
    )
    namespace: DnsLabel = Field("monitoring", description="Namespace of prometheus-adapter.")
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc", description="Prometheus the adapter queries."
    )
    prometheus_port: int = Field(9090, ge=1, le=65535, description="Prometheus port.")


class ModelCacheConfig(_Group):
    enabled: bool | None = Field(None, description="Mount a model cache (chart default).")
    type: Literal["pvc", "emptyDir"] | None = Field(None, description="pvc or emptyDir.")
    size: Quantity | None = Field(None, description="Size of the cache.")
    storage_class: str | None = Field(None, description="StorageClass of the created PVC.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"] | None = Field(
        None, description="Access mode; several replicas need ReadWriteMany."
    )
    existing_claim: str | None = Field(None, description="Use this PVC instead of creating one.")


class QuotaConfig(_Group):
    enabled: bool = Field(True, description="Create a ResourceQuota in the namespace.")
    gpus: int = Field(0, ge=0, description="GPUs the namespace may request.")
    cpu: Quantity = Field("8", description="CPU the namespace may request.")
    memory: Quantity = Field("64Gi", description="Memory the namespace may request.")
    pods: int = Field(10, ge=1, description="Pods the namespace may run.")
    storage: Quantity = Field("200Gi", description="PVC storage the namespace may request.")


class LimitRangeConfig(_Group):
    default_cpu_request: Quantity = Field(
        "100m", description="CPU request of containers that set none."
    )
    default_memory_request: Quantity = Field(
        "128Mi", description="Memory request of containers that set none."
    )
    default_memory_limit: Quantity = Field(
        "512Mi", description="Memory limit of containers that set none (no CPU limit default)."
    )


class NetworkPolicyConfig(_Group):
    enabled: bool = Field(True, description="Default-deny plus the allow rules below.")
    ingress_namespaces: list[DnsLabel] = Field(
        default_factory=lambda: ["ingress-nginx"],
        description="Namespaces (ingress controllers, gateways) allowed to the server port.",
    )
    monitoring_namespaces: list[DnsLabel] = Field(
        default_factory=lambda: ["monitoring"],
        description="Namespaces (Prometheus) allowed to scrape the server port.",
    )
    dns_namespace: DnsLabel = Field("kube-system", description="Namespace of the cluster DNS.")
    model_hub_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="CIDRs the server may reach on 443 (model hub, or your egress proxy).",
    )


class IngressConfig(_Group):
    enabled: bool = Field(False, description="Expose the server through an Ingress.")
    class_name: str | None = Field(None, description="IngressClass (cluster default).")
    host: str | None = Field(None, description="Host name routed to the server.")
    tls_secret_name: str | None = Field(None, description="TLS Secret for the host.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Ingress annotations.")


class StackConfig(_Group):
    """The whole stack configuration (config keys `<project>:<key>`)."""

    namespace: DnsLabel = Field("tensorrt-llm", description="Namespace of the server.")
    release_name: ReleaseName = Field(
        "tensorrt-llm",
        description="Helm release name (<= 53 characters); also the Service and Deployment name.",
    )
    engine: Engine = Field("simulated", description="simulated, transformers or tensorrt-llm.")
    replicas: int = Field(1, ge=1, description="Server pods when autoscaling is off.")
    tensor_parallel_size: TensorParallelSize = Field(
        1, description="GPUs per pod (tensor parallel degree): 1, 2, 4 or 8."
    )
    model_load_timeout_seconds: int = Field(
        1800,
        ge=60,
        le=21600,
        description="Longest model download+load; sizes the startup probe and Helm timeout.",
    )
    require_api_keys: bool = Field(False, description="Refuse to deploy without apiKeys.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Model served.")
    image: ImageConfig = Field(default_factory=ImageConfig, description="Server image.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="Registry.")
    gpu: GpuConfig = Field(default_factory=GpuConfig, description="GPU nodes.")
    resources: ResourcesConfig = Field(
        default_factory=ResourcesConfig, description="Server resources."
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="Server tuning.")
    request_defaults: RequestDefaultsConfig = Field(
        default_factory=RequestDefaultsConfig, description="Request defaults."
    )
    simulated: SimulatedConfig = Field(
        default_factory=SimulatedConfig, description="Simulated engine timing."
    )
    autoscaling: AutoscalingConfig = Field(
        default_factory=AutoscalingConfig, description="Horizontal pod autoscaling."
    )
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Rolling update.")
    pod_disruption_budget: PodDisruptionBudgetConfig = Field(
        default_factory=PodDisruptionBudgetConfig, description="PodDisruptionBudget."
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="Prometheus and Grafana."
    )
    prometheus_adapter: PrometheusAdapterConfig = Field(
        default_factory=PrometheusAdapterConfig, description="Custom metrics for the HPA."
    )
    model_cache: ModelCacheConfig = Field(
        default_factory=ModelCacheConfig, description="Model cache volume."
    )
    quota: QuotaConfig = Field(default_factory=QuotaConfig, description="ResourceQuota.")
    limit_range: LimitRangeConfig = Field(
        default_factory=LimitRangeConfig, description="LimitRange defaults."
    )
    network_policy: NetworkPolicyConfig = Field(
        default_factory=NetworkPolicyConfig, description="NetworkPolicies."
    )
    ingress: IngressConfig = Field(default_factory=IngressConfig, description="Ingress.")
    registry_password: SecretValue | None = Field(
        None, description="Registry password or token (secret)."
    )
    hf_token: SecretValue | None = Field(None, description="Hugging Face token (secret).")
    api_keys: SecretValue | None = Field(
        None, description="Comma-separated API keys clients must send (secret)."
    )

    # --- facts derived from several keys (one place, used by rules and components)

    @property
    def device_plugin_enabled(self) -> bool:
        return self.gpu.enabled and self.gpu.provisioner == "device-plugin"

    @property
    def image_target(self) -> str:
        return self.image.target or ("runtime" if self.gpu.enabled else "cpu")

    @property
    def max_pods(self) -> int:
        """Most server pods outside a rollout."""
        if self.autoscaling.enabled and self.autoscaling.max_replicas is not None:
            return self.autoscaling.max_replicas
        return self.replicas

    @property
    def rollout_surge(self) -> int:
        surge = self.rollout.max_surge
        if surge is None:
            surge = _pods_of(chart_default("rollingUpdate.maxSurge"), self.max_pods)
        return surge

    @property
    def peak_pods(self) -> int:
        """Most server pods at once, during a rollout at full scale."""
        return self.max_pods + self.rollout_surge

    @property
    def startup_failure_threshold(self) -> int:
        """Startup probe failures that add up to modelLoadTimeoutSeconds."""
        period = int(chart_default("probes.startup.periodSeconds"))
        return math.ceil(self.model_load_timeout_seconds / period)


def _pods_of(value: int | str, pods: int) -> int:
    """A rollout count or percentage as pods, rounded up like the Deployment controller."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(pods * int(value[:-1]) / 100)
    return int(value)


# --- errors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigIssue:
    key: str
    expected: str
    got: str

    def line(self, project: str) -> str:
        return f"{project}:{self.key}: {self.expected}, got {self.got}"


class ConfigError(pulumi.RunError):
    """Every bad key at once; pulumi prints RunError messages without a traceback."""

    def __init__(self, project: str, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = [issue.line(project) for issue in issues]
        super().__init__(
            f"invalid stack configuration ({len(issues)} problem(s)):\n  " + "\n  ".join(lines)
        )


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, SecretValue):
        return "a secret"
    # The engine hands scalars over as strings: show them as the user typed them.
    text = value if isinstance(value, str) and value else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _loc(loc: Iterable[str | int]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "an object",
    "model": "an object",
    "list": "a list",
}


def _expected(error: Mapping[str, Any], known: list[str]) -> str:
    kind: str = error["type"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    for prefix, words in _TYPE_WORDS.items():
        if kind.startswith(prefix):
            return f"must be {words}"
    return str(error["msg"])


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys that were valid where an unknown key appeared (for 'did you mean')."""
    for part in loc[:-1]:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [f.alias for f in model.model_fields.values() if f.alias]


def _issues_from(error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for item in error.errors():
        loc = tuple(item["loc"])
        got = "nothing" if item["type"] == "missing" else _show(item["input"])
        issues.append(ConfigIssue(_loc(loc), _expected(item, _known_keys(StackConfig, loc)), got))
    return issues


# --- cross-field rules -----------------------------------------------------------------


_FIELD_OF_SECRET = {
    "registryPassword": "registry_password",
    "hfToken": "hf_token",
    "apiKeys": "api_keys",
}


def required_secrets(c: StackConfig) -> dict[str, str]:
    """Secret keys the stack cannot deploy without, and the key that requires each."""
    required = {}
    if c.registry.private:
        required["registryPassword"] = "registry.private"
    if c.require_api_keys:
        required["apiKeys"] = "requireApiKeys"
    return required


def _rules(c: StackConfig) -> list[ConfigIssue]:
    """Rules between keys; each returns the key to change and why. All are reported."""
    issues: list[ConfigIssue] = []

    def bad(key: str, expected: str, got: Any) -> None:
        issues.append(ConfigIssue(key, expected, _show(got)))

    if c.engine == "tensorrt-llm" and not c.gpu.enabled:
        bad("gpu.enabled", "must be true when engine is tensorrt-llm", c.gpu.enabled)
    if c.engine == "tensorrt-llm" and c.image_target != "runtime":
        bad("image.target", "must be runtime when engine is tensorrt-llm", c.image_target)
    if not c.gpu.enabled and c.tensor_parallel_size > 1:
        bad("tensorParallelSize", "must be 1 when gpu.enabled is false", c.tensor_parallel_size)
    if c.gpu.enabled and c.gpu.gpus_per_node % c.tensor_parallel_size:
        bad(
            "tensorParallelSize",
            f"must divide gpu.gpusPerNode ({c.gpu.gpus_per_node}): a pod's GPUs share a node",
            c.tensor_parallel_size,
        )

    scaling = c.autoscaling
    if scaling.enabled:
        if scaling.min_replicas is None:
            bad("autoscaling.minReplicas", "required when autoscaling.enabled", None)
        if scaling.max_replicas is None:
            bad("autoscaling.maxReplicas", "required when autoscaling.enabled", None)
        if (
            scaling.min_replicas is not None
            and scaling.max_replicas is not None
            and scaling.max_replicas < scaling.min_replicas
        ):
            bad(
                "autoscaling.maxReplicas",
                f"must be >= autoscaling.minReplicas ({scaling.min_replicas})",
                scaling.max_replicas,
            )

    image, registry = c.image, c.registry
    if (image.ref is None) == (image.repository is None):
        bad(
            "image.repository",
            "set exactly one of image.ref (prebuilt) and image.repository (build and push)",
            {"ref": image.ref, "repository": image.repository},
        )
    if registry.private:
        if not registry.server:
            bad("registry.server", "required when registry.private", registry.server)
        if not registry.username:
            bad("registry.username", "required when registry.private", registry.username)
        if c.registry_password is None:
            bad(
                "registryPassword",
                "required when registry.private (pulumi config set --secret registryPassword ...)",
                None,
            )
    image_name = image.ref or image.repository
    if registry.server and image_name and not image_name.startswith(registry.server + "/"):
        key = "image.ref" if image.ref else "image.repository"
        bad(key, f"must be in registry.server ({registry.server}/...)", image_name)

    if c.require_api_keys and c.api_keys is None:
        bad(
            "apiKeys",
            "required when requireApiKeys (pulumi config set --secret apiKeys key1,key2)",
            None,
        )

    issues += _capacity_rules(c)

    if c.prometheus_adapter.enabled and not c.monitoring.enabled:
        bad(
            "monitoring.enabled",
            "must be true when prometheusAdapter.enabled: the adapter "
            "reads what Prometheus scrapes",
            c.monitoring.enabled,
        )
    if c.prometheus_adapter.enabled and not scaling.enabled:
        bad("prometheusAdapter.enabled", "only useful with autoscaling.enabled", True)
    policy = c.network_policy
    if policy.enabled and c.monitoring.enabled and not policy.monitoring_namespaces:
        bad(
            "networkPolicy.monitoringNamespaces",
            "must list Prometheus's namespace when monitoring.enabled, or scrapes are dropped",
            [],
        )
    if c.ingress.enabled:
        if not c.ingress.host:
            bad("ingress.host", "required when ingress.enabled", c.ingress.host)
        if policy.enabled and not policy.ingress_namespaces:
            bad(
                "networkPolicy.ingressNamespaces",
                "must list the ingress controller's namespace when ingress.enabled",
                [],
            )
    return issues


def _capacity_rules(c: StackConfig) -> list[ConfigIssue]:
    """The quota and the model cache must hold the most pods the stack can run at once."""
    issues: list[ConfigIssue] = []
    peak = c.peak_pods
    why = f"{c.max_pods} pods + {c.rollout_surge} rollout surge"

    cache_type = c.model_cache.type or chart_default("modelCache.type")
    cache_enabled = (
        c.model_cache.enabled
        if c.model_cache.enabled is not None
        else chart_default("modelCache.enabled")
    )
    creates_claim = cache_enabled and cache_type == "pvc" and not c.model_cache.existing_claim
    access = c.model_cache.access_mode or chart_default("modelCache.accessMode")
    if creates_claim and c.max_pods > 1 and access != "ReadWriteMany":
        issues.append(
            ConfigIssue(
                "modelCache.accessMode",
                f"must be ReadWriteMany: {c.max_pods} pods share one claim across nodes",
                _show(access),
            )
        )

    if not c.quota.enabled:
        return issues
    q = c.quota
    if c.gpu.enabled and q.gpus < peak * c.tensor_parallel_size:
        issues.append(
            ConfigIssue(
                "quota.gpus",
                f"must be >= {peak * c.tensor_parallel_size} ({why}, x tensorParallelSize "
                f"{c.tensor_parallel_size})",
                _show(q.gpus),
            )
        )
    if q.pods < peak:
        issues.append(ConfigIssue("quota.pods", f"must be >= {peak} ({why})", _show(q.pods)))
    requests = c.resources.requests or ResourceList()
    for name, limit in (("cpu", q.cpu), ("memory", q.memory)):
        per_pod = getattr(requests, name) or chart_default("resources.requests").get(name)
        if per_pod is None:
            continue
        if quantity_value(limit) < peak * quantity_value(str(per_pod)):
            issues.append(
                ConfigIssue(
                    f"quota.{name}",
                    f"must hold {peak} x {per_pod} ({why}, x resources.requests.{name})",
                    _show(limit),
                )
            )
    size = c.model_cache.size or chart_default("modelCache.size")
    if creates_claim and quantity_value(q.storage) < quantity_value(size):
        issues.append(
            ConfigIssue("quota.storage", f"must be >= modelCache.size ({size})", _show(q.storage))
        )
    return issues


# --- loading ---------------------------------------------------------------------------


def parse(raw: Mapping[str, Any], project: str, issues: Iterable[ConfigIssue] = ()) -> StackConfig:
    """Validate raw values (keys without the project prefix) into a StackConfig.

    Raises ConfigError listing every bad key, with `issues` found while reading. The
    rules between keys run once every field is valid; all their findings come together.
    """
    found = list(issues)
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(project, found + _issues_from(error)) from None
    found += _rules(config)
    if found:
        raise ConfigError(project, found)
    return config


def _decode(value: Any) -> Any:
    # The engine hands every value over as a string; objects and lists arrive as JSON.
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_pulumi(project: str) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The project's config keys from the running Pulumi program, secrets wrapped.

    The SDK has no public way to list config keys; listing them is what lets a typo
    such as `autoscalling` be an error instead of a silently ignored key.
    """
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for full_key, value in values.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            if value in (None, ""):
                continue  # Pulumi.yaml declares "" as the default: unset
            if not runtime_config.is_config_secret(full_key):
                issues.append(
                    ConfigIssue(
                        key, f"must be a secret (pulumi config set --secret {key})", "a plain value"
                    )
                )
            raw[key] = SecretValue(pulumi.Output.secret(str(value)))
        else:
            raw[key] = _decode(value)
    return raw, issues


SECRET_PLACEHOLDER = "<secret>"


def raw_from_stack_file(
    section: Mapping[str, Any], project: str
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The project's keys from a stack file's `config:` mapping, read offline.

    Encrypted values cannot be decrypted here: secret keys become placeholders, and
    secret keys the stack requires but the file lacks are assumed set (an operator sets
    them with `pulumi config set --secret`; the program itself refuses to deploy
    without them). Optional secrets count as set only when the file has them.
    """
    raw: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for full_key, value in section.items():
        namespace, _, key = str(full_key).rpartition(":")
        if namespace not in ("", project):
            continue
        encrypted = isinstance(value, Mapping) and set(value) == {"secure"}
        if key in SECRET_KEYS:
            if not encrypted:
                issues.append(
                    ConfigIssue(
                        key, f"must be a secret (pulumi config set --secret {key})", "a plain value"
                    )
                )
            raw[key] = SecretValue(SECRET_PLACEHOLDER)
        elif encrypted:
            issues.append(
                ConfigIssue(
                    key, "must not be a secret (it is not secret data)", "an encrypted value"
                )
            )
        else:
            raw[key] = value
    try:
        required = required_secrets(StackConfig.model_validate(raw))
    except ValidationError:
        required = {}  # parse() reports the field errors
    for key in required:
        raw.setdefault(key, SecretValue(SECRET_PLACEHOLDER))
    return raw, issues


def load() -> StackConfig:
    """The running stack's validated config; raises ConfigError before any resource."""
    project = pulumi.get_project()
    raw, issues = raw_from_pulumi(project)
    return parse(raw, project, issues)
