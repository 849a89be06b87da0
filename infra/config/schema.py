"""The stack's keys: one pydantic field per key, with its type, default and description.

The README table and the `config:` block of Pulumi.yaml are generated from these fields
(`python -m infra.docs --write`), so the defaults live here only. Pulumi's mocks do not
apply Pulumi.yaml defaults, which is one more reason the code never relies on them: both
places hold the same values and a test keeps it so.

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
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from infra.chart import chart_default
from infra.config.hardware import (
    GPU_PRODUCT_LABEL,
    GPU_PRODUCTS,
    KV_CACHE_DTYPES,
    QUANTIZATIONS,
    smallest_fitting_tp,
)
from infra.config.spot import SPOT_CONVENTIONS
from infra.config.types import (
    Cidr,
    DnsLabel,
    Engine,
    EngineOptions,
    ParallelDegree,
    Quantity,
    ReleaseName,
    SecretValue,
    TensorParallelSize,
)

Quantization = Literal[tuple(QUANTIZATIONS)]  # type: ignore[valid-type]
KvCacheDtype = Literal[tuple(KV_CACHE_DTYPES)]  # type: ignore[valid-type]
SpotProvider = Literal[tuple(SPOT_CONVENTIONS)]  # type: ignore[valid-type]

# Config keys whose values are secrets: set with `pulumi config set --secret KEY`.
SECRET_KEYS = ("registryPassword", "hfToken", "apiKeys")


class Group(BaseModel):
    # Keys are camelCase like Pulumi's own; unknown keys are errors so a typo in a
    # stack file never silently falls back to a default.
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
    )


def group(model: type[Group], description: str) -> Any:
    """An object key: its fields take their own defaults when the stack leaves it out."""
    return Field(default_factory=model, description=description)


class ModelConfig(Group):
    path: str | None = Field(
        None, description="Hugging Face model id or directory the server loads (chart default)."
    )
    served_model_name: str | None = Field(
        None, description="Model name clients send and /v1/models lists (server default)."
    )
    trust_remote_code: bool | None = Field(
        None, description="Run modelling code shipped with the model repository."
    )
    revision: str | None = Field(
        None,
        description="Hub revision to serve (pin a commit hash: the cache fill Job is named "
        "after path + revision).",
    )
    # The profile: checked against the GPU at preview (infra.config.hardware).
    quantization: Quantization = Field(
        "none",
        description="Weight quantization of the checkpoint; checked against the GPU "
        "(README: Model profiles).",
    )
    pre_quantized: bool = Field(
        False,
        description="The checkpoint is already quantized (ModelOpt format, e.g. "
        "nvidia/*-FP8); required for any quantization but none.",
    )
    kv_cache_dtype: KvCacheDtype = Field(
        "auto", description="KV-cache dtype: auto (the checkpoint's) or fp8."
    )
    parameters_billions: float | None = Field(
        None,
        gt=0,
        description="Parameters of the model in billions, for the GPU memory-fit check "
        "(required with a quantization).",
    )

    # Keys of the profile that the program checks and translates; the rest are the chart's.
    PROFILE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"quantization", "pre_quantized", "kv_cache_dtype", "parameters_billions"}
    )


class ImageConfig(Group):
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


class RegistryConfig(Group):
    server: str | None = Field(
        None, description="Registry host[:port] the image is pushed to and pulled from."
    )
    username: str | None = Field(None, description="Registry user (password: registryPassword).")
    private: bool = Field(
        False,
        description="Pods need credentials to pull: creates a dockerconfigjson pull secret.",
    )


class GpuConfig(Group):
    enabled: bool = Field(False, description="Schedule the server on GPU nodes and request GPUs.")
    resource_name: str = Field(
        "nvidia.com/gpu", description="Extended resource the device plugin advertises."
    )
    gpus_per_node: int = Field(
        8, ge=1, description="GPUs on one node; tensorParallelSize must divide it."
    )
    provisioner: Literal["device-plugin", "gpu-operator", "managed"] = Field(
        "device-plugin",
        description="Who advertises GPUs: this program installs the NVIDIA device plugin; "
        "or the GPU Operator already does; or the managed cloud does (GKE, AKS GPU pools).",
    )
    feature_discovery: bool | None = Field(
        None,
        description="Run GPU Feature Discovery (and Node Feature Discovery) with the device "
        "plugin; default: on when gpu.nodeSelector uses a label only GFD sets.",
    )
    device_plugin_namespace: DnsLabel = Field(
        "nvidia-device-plugin", description="Namespace of the device plugin (privileged)."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Labels of the GPU nodes the server runs on."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Extra tolerations for GPU node taints."
    )


class ParallelismConfig(Group):
    tensor: ParallelDegree | None = Field(
        None,
        description="Tensor-parallel degree across all of an instance's GPUs (default: "
        "tensorParallelSize).",
    )
    pipeline: int = Field(1, ge=1, le=64, description="Pipeline-parallel stages.")
    nodes: int = Field(
        1,
        ge=1,
        le=64,
        description="Nodes (pods) one instance spans; > 1 runs a LeaderWorkerSet "
        "(README: Multi-node).",
    )
    exclusive_topology: str | None = Field(
        None,
        description="Node label of the fabric domain (rack, NVLink clique) one group "
        "takes whole (multi-node).",
    )


class ResourceList(Group):
    cpu: Quantity | None = Field(None, description="CPU quantity.")
    memory: Quantity | None = Field(None, description="Memory quantity.")


class ResourcesConfig(Group):
    requests: ResourceList | None = Field(
        None, description="Server container requests, without GPUs (chart default)."
    )
    limits: ResourceList | None = Field(
        None, description="Server container limits, without GPUs (chart default)."
    )


class ServerConfig(Group):
    max_batch_size: int | None = Field(None, ge=1, description="Engine batch size.")
    max_num_tokens: int | None = Field(None, ge=1, description="Token budget per iteration.")
    max_seq_len: int | None = Field(
        None, ge=1, description="Longest prompt + output (default: the checkpoint's)."
    )
    kv_cache_free_gpu_memory_fraction: float | None = Field(
        None, gt=0, le=1, description="Share of free GPU memory for the KV cache."
    )
    engine_options: EngineOptions | None = Field(
        None,
        description="Extra TensorRT-LLM LLM API options passed to LLM() (like trtllm-serve's "
        "--extra_llm_api_options).",
    )
    engine_stall_seconds: float | None = Field(
        None, ge=0, description="Liveness fails after this long without engine progress."
    )
    max_concurrent_requests: int | None = Field(None, ge=1, description="Requests in flight.")
    max_queued_requests: int | None = Field(None, ge=0, description="Requests waiting.")
    drain_timeout_seconds: int | None = Field(None, ge=0, description="Drain time on SIGTERM.")
    log_level: Literal["debug", "info", "warning", "error", "critical"] | None = Field(
        None, description="Server log level."
    )
    log_format: Literal["json", "text"] | None = Field(None, description="Server log format.")


class RequestDefaultsConfig(Group):
    max_tokens: int | None = Field(None, ge=1, description="Default max_tokens.")
    temperature: float | None = Field(None, ge=0, le=2, description="Default temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Default top_p.")


class SimulatedConfig(Group):
    ttft_ms: float | None = Field(None, ge=0, description="Simulated time to first token.")
    itl_ms: float | None = Field(None, ge=0, description="Simulated inter-token latency.")
    max_batch: int | None = Field(None, ge=1, description="Simulated batch size.")


class KedaScalerConfig(Group):
    prometheus_address: str | None = Field(
        None, description="Prometheus URL KEDA's scaler queries (chart default)."
    )
    polling_interval_seconds: int | None = Field(
        None, ge=1, description="Seconds between KEDA's queries (chart default)."
    )
    fallback_replicas: int | None = Field(
        None, ge=1, description="Replicas held while Prometheus cannot be queried (chart default)."
    )
    cooldown_seconds: int | None = Field(
        None, ge=0, description="Idle seconds before scaling to zero (chart default)."
    )


class AutoscalingConfig(Group):
    enabled: bool = Field(False, description="Scale on trtllm_num_requests_waiting per pod.")
    mode: Literal["hpa", "keda"] | None = Field(
        None,
        description="hpa (prometheus-adapter, deprecated upstream) or keda (ScaledObject); "
        "chart default hpa.",
    )
    min_replicas: int | None = Field(
        None, ge=0, description="Fewest pods (required if enabled; 0 = scale to zero, keda only)."
    )
    max_replicas: int | None = Field(None, ge=1, description="Most pods (required if enabled).")
    target_requests_waiting: float | None = Field(
        None, gt=0, description="Average waiting requests per pod the autoscaler aims for."
    )
    scale_down_stabilization_seconds: int | None = Field(
        None, ge=0, description="Seconds of lower demand before scaling down."
    )
    keda: KedaScalerConfig = group(KedaScalerConfig, "KEDA ScaledObject (mode keda).")


class SpotConfig(Group):
    enabled: bool = Field(
        False, description="Run the replicas above the on-demand floor on spot GPU nodes."
    )
    provider: SpotProvider | None = Field(  # type: ignore[valid-type]
        None,
        description="Whose spot node label and taint to use: gke, eks, karpenter or aks "
        "(README: Spot GPUs); required when enabled.",
    )
    on_demand_replicas: int = Field(
        1,
        ge=0,
        description="The floor: pods that never run on spot (counted in replicas or "
        "autoscaling.minReplicas/maxReplicas).",
    )


class KedaConfig(Group):
    install: bool = Field(
        False, description="Install KEDA (pinned chart); false uses the cluster's own KEDA."
    )
    namespace: DnsLabel = Field("keda", description="Namespace KEDA is installed into.")


class GatewayRefConfig(Group):
    name: str = Field("inference-gateway", description="Gateway the HTTPRoute attaches to.")
    namespace: DnsLabel | None = Field(
        None, description="Namespace of the Gateway (default: the server's)."
    )


class RoutingConfig(Group):
    mode: Literal["service", "inferencePool"] = Field(
        "service",
        description="service (Service/Ingress) or inferencePool (Gateway + InferencePool + EPP).",
    )
    gateway: GatewayRefConfig = group(GatewayRefConfig, "Gateway (mode inferencePool).")
    hostnames: list[str] = Field(default_factory=list, description="Host names the route matches.")
    flow_control: bool = Field(
        False, description="EPP holds requests while no pod has room (needed to scale to zero)."
    )


class RolloutConfig(Group):
    max_surge: int | None = Field(
        None, ge=0, description="Extra pods during a rollout (chart default; counts in quota)."
    )
    max_unavailable: int | None = Field(
        None, ge=0, description="Pods a rollout may take down at once (chart default)."
    )


class PodDisruptionBudgetConfig(Group):
    max_unavailable: int | None = Field(
        None, ge=1, description="Pods a voluntary disruption may take down (chart default)."
    )


class MonitoringConfig(Group):
    enabled: bool = Field(False, description="Create a ServiceMonitor for Prometheus.")
    interval: str | None = Field(None, description="Scrape interval (chart default).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="ServiceMonitor labels your Prometheus selects on."
    )
    dashboard: bool = Field(False, description="Ship the Grafana dashboard ConfigMap.")


class PrometheusAdapterConfig(Group):
    enabled: bool = Field(
        False,
        description="Install prometheus-adapter for autoscaling.mode hpa (deprecated upstream).",
    )
    namespace: DnsLabel = Field("monitoring", description="Namespace of prometheus-adapter.")
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc", description="Prometheus the adapter queries."
    )
    prometheus_port: int = Field(9090, ge=1, le=65535, description="Prometheus port.")


class ModelCacheSnapshotConfig(Group):
    name: str | None = Field(
        None,
        description="Take a VolumeSnapshot of the cache PVC under this name once it is warm "
        "(needs the CSI snapshot CRDs).",
    )
    class_name: str | None = Field(None, description="VolumeSnapshotClass (cluster default).")
    restore_from: str | None = Field(
        None, description="Create the cache PVC from this VolumeSnapshot (first install only)."
    )


class ModelCacheConfig(Group):
    enabled: bool | None = Field(None, description="Mount a model cache (chart default).")
    type: Literal["pvc", "emptyDir"] | None = Field(None, description="pvc or emptyDir.")
    size: Quantity | None = Field(None, description="Size of the cache.")
    storage_class: str | None = Field(None, description="StorageClass of the created PVC.")
    access_mode: (
        Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"] | None
    ) = Field(
        None,
        description="Access mode; several replicas need ReadWriteMany, ReadOnlyMany an "
        "existingClaim that holds the model.",
    )
    existing_claim: str | None = Field(None, description="Use this PVC instead of creating one.")
    prefill: bool | None = Field(
        None,
        description="Download model.path@model.revision into the claim with a Job before "
        "the release; pods then start offline (HF_HUB_OFFLINE=1).",
    )
    quantize: bool | None = Field(
        None,
        description="Quantize the prefilled checkpoint to model.quantization with ModelOpt in "
        "a GPU Job before the release; pods load the result (README: Model profiles).",
    )
    snapshot: ModelCacheSnapshotConfig | None = None


class ModelLoadAssumptions(Group):
    """What the model-load floor assumes; none is measured here, measure yours (README)."""

    cache_read_gib_per_second: float = Field(
        1.0,
        gt=0,
        description="Assumed read speed of the model cache volume in GiB/s (the metric "
        "trtllm_model_load_seconds shows your load time).",
    )
    hub_download_gib_per_second: float = Field(
        0.1,
        gt=0,
        description="Assumed download speed from the model hub in GiB/s (the prefill Job's "
        "log shows yours).",
    )
    engine_start_seconds: int = Field(
        300,
        ge=0,
        description="Assumed engine start after the weights are read (CUDA graphs, kernel "
        "JIT, KV-cache allocation).",
    )


class QuotaConfig(Group):
    enabled: bool = Field(True, description="Create a ResourceQuota in the namespace.")
    gpus: int = Field(0, ge=0, description="GPUs the namespace may request.")
    cpu: Quantity = Field("8", description="CPU the namespace may request.")
    memory: Quantity = Field("64Gi", description="Memory the namespace may request.")
    pods: int = Field(10, ge=1, description="Pods the namespace may run.")
    storage: Quantity = Field("200Gi", description="PVC storage the namespace may request.")


class LimitRangeConfig(Group):
    default_cpu_request: Quantity = Field(
        "100m", description="CPU request of containers that set none."
    )
    default_memory_request: Quantity = Field(
        "128Mi", description="Memory request of containers that set none."
    )
    default_memory_limit: Quantity = Field(
        "512Mi", description="Memory limit of containers that set none (no CPU limit default)."
    )


class NetworkPolicyConfig(Group):
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


class IngressConfig(Group):
    enabled: bool = Field(False, description="Expose the server through an Ingress.")
    class_name: str | None = Field(None, description="IngressClass (cluster default).")
    host: str | None = Field(None, description="Host name routed to the server.")
    tls_secret_name: str | None = Field(None, description="TLS Secret for the host.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Ingress annotations.")


class CanaryAnalysisConfig(Group):
    enabled: bool = Field(
        False,
        description="Apply an Argo Rollouts AnalysisTemplate <model>-canary per model with "
        "two versions (needs Argo Rollouts and monitoring.enabled).",
    )
    prometheus_address: str | None = Field(
        None, description="Prometheus the analysis queries (default: KEDA's, chart default)."
    )
    max_error_ratio: float = Field(
        0.01, gt=0, le=1, description="Most 5xx share of the canary's requests."
    )
    max_ttft_p95_ratio: float = Field(
        1.2, gt=0, description="Most canary TTFT p95 over the stable version's."
    )
    interval: str = Field("1m", description="Time between measurements.")
    count: int = Field(5, ge=1, description="Measurements per analysis run.")


class ModelVersion(Group, extra="allow"):
    """One version of a model: its own release and pool; other keys override the model's."""

    name: DnsLabel = Field(description="Version label (e.g. v1, v2); release <model>-<name>.")
    weight: int = Field(ge=0, le=100, description="Share of the model's requests, percent.")


class ModelEntry(Group, extra="allow"):
    """A model the stack serves; keys besides these override the stack's per-release keys."""

    name: DnsLabel = Field(description="Release name of the model (and its versions' prefix).")
    versions: list[ModelVersion] = Field(
        default_factory=list,
        max_length=2,
        description="Stable and canary versions with traffic weights (at most two).",
    )


class StackConfig(Group):
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
    model_load_assumptions: ModelLoadAssumptions = group(
        ModelLoadAssumptions, "Speeds modelLoadTimeoutSeconds is checked against."
    )
    require_api_keys: bool = Field(False, description="Refuse to deploy without apiKeys.")
    parallelism: ParallelismConfig = group(
        ParallelismConfig, "How one model instance is split over GPUs and nodes."
    )
    model: ModelConfig = group(ModelConfig, "Model served.")
    image: ImageConfig = group(ImageConfig, "Server image.")
    registry: RegistryConfig = group(RegistryConfig, "Registry.")
    gpu: GpuConfig = group(GpuConfig, "GPU nodes.")
    resources: ResourcesConfig = group(ResourcesConfig, "Server resources.")
    server: ServerConfig = group(ServerConfig, "Server tuning.")
    request_defaults: RequestDefaultsConfig = group(RequestDefaultsConfig, "Request defaults.")
    simulated: SimulatedConfig = group(SimulatedConfig, "Simulated engine timing.")
    autoscaling: AutoscalingConfig = group(AutoscalingConfig, "Horizontal pod autoscaling.")
    spot: SpotConfig = group(SpotConfig, "Spot / preemptible GPU capacity above a floor.")
    keda: KedaConfig = group(KedaConfig, "KEDA installation.")
    routing: RoutingConfig = group(RoutingConfig, "How clients reach the pods.")
    rollout: RolloutConfig = group(RolloutConfig, "Rolling update.")
    pod_disruption_budget: PodDisruptionBudgetConfig = group(
        PodDisruptionBudgetConfig, "PodDisruptionBudget."
    )
    monitoring: MonitoringConfig = group(MonitoringConfig, "Prometheus and Grafana.")
    prometheus_adapter: PrometheusAdapterConfig = group(
        PrometheusAdapterConfig, "Custom metrics for the HPA."
    )
    model_cache: ModelCacheConfig = group(ModelCacheConfig, "Model cache volume.")
    quota: QuotaConfig = group(QuotaConfig, "ResourceQuota.")
    limit_range: LimitRangeConfig = group(LimitRangeConfig, "LimitRange defaults.")
    network_policy: NetworkPolicyConfig = group(NetworkPolicyConfig, "NetworkPolicies.")
    ingress: IngressConfig = group(IngressConfig, "Ingress.")
    registry_password: SecretValue | None = Field(
        None, description="Registry password or token (secret)."
    )
    hf_token: SecretValue | None = Field(None, description="Hugging Face token (secret).")
    api_keys: SecretValue | None = Field(
        None, description="Comma-separated API keys clients must send (secret)."
    )
    canary_analysis: CanaryAnalysisConfig = group(
        CanaryAnalysisConfig, "Argo Rollouts analysis of model canaries."
    )
    models: list[ModelEntry] = Field(
        default_factory=list,
        description="Several models, each its own release: name, optional versions "
        "(stable/canary with weights) and overrides of any per-release key (README: "
        "Several models).",
    )
    # A release of a `models` entry keeps the stack's releaseName here, for the names of
    # what the stack shares (its Secrets).
    _stack_release_name: str | None = PrivateAttr(None)

    def set_stack_release_name(self, name: str) -> None:
        self._stack_release_name = name

    @property
    def stack_release_name(self) -> str:
        """The stack's own releaseName (a model's release has its own release_name)."""
        return self._stack_release_name or self.release_name

    # --- facts derived from several keys (one place, used by rules and components)

    @property
    def device_plugin_enabled(self) -> bool:
        return self.gpu.enabled and self.gpu.provisioner == "device-plugin"

    @property
    def image_target(self) -> str:
        return self.image.target or ("runtime" if self.gpu.enabled else "cpu")

    @property
    def model_cache_claim_created(self) -> bool:
        """A model cache claim is created (by the chart, or before it for prefill)."""
        cache = self.model_cache
        enabled = (
            cache.enabled if cache.enabled is not None else chart_default("modelCache.enabled")
        )
        kind = cache.type or chart_default("modelCache.type")
        return bool(enabled) and kind == "pvc" and not cache.existing_claim

    @property
    def model_cache_prefill(self) -> bool:
        return bool(self.model_cache.prefill)

    @property
    def model_cache_quantize(self) -> bool:
        return bool(self.model_cache.quantize)

    @property
    def quantize_gpus(self) -> int | None:
        """GPUs the quantize Job needs: the fewest of one node that hold the 16-bit weights."""
        product = GPU_PRODUCTS.get(self.gpu.node_selector.get(GPU_PRODUCT_LABEL, ""))
        billions = self.model.parameters_billions
        if not self.model_cache_quantize or product is None or billions is None:
            return None
        return smallest_fitting_tp(billions, "none", product, self.gpu.gpus_per_node)

    @property
    def tensor_size(self) -> int:
        """The tensor-parallel degree: parallelism.tensor, else tensorParallelSize."""
        return self.parallelism.tensor or self.tensor_parallel_size

    @property
    def gpus_per_instance(self) -> int:
        """GPUs (MPI ranks) of one model instance: tensor x pipeline."""
        return self.tensor_size * self.parallelism.pipeline

    @property
    def gpus_per_pod(self) -> int:
        """GPUs each pod of an instance requests (an instance spans parallelism.nodes pods)."""
        return self.gpus_per_instance // self.parallelism.nodes

    @property
    def multi_node(self) -> bool:
        return self.parallelism.nodes > 1

    @property
    def max_pods(self) -> int:
        """Most server pods outside a rollout."""
        if self.autoscaling.enabled and self.autoscaling.max_replicas is not None:
            return self.autoscaling.max_replicas
        return self.replicas

    @property
    def on_demand_max_pods(self) -> int:
        """Most pods of the rolling (on-demand) Deployment: the floor with spot capacity."""
        return self.spot.on_demand_replicas if self.spot.enabled else self.max_pods

    @property
    def rollout_surge(self) -> int:
        """Extra pods during a rollout; spot pods roll without surge (the chart's choice)."""
        surge = self.rollout.max_surge
        if surge is None:
            surge = pods_of(chart_default("rollingUpdate.maxSurge"), self.on_demand_max_pods)
        return surge

    @property
    def peak_server_pods(self) -> int:
        """Most server pods at once: peak_pods instances of parallelism.nodes pods each."""
        return self.peak_pods * self.parallelism.nodes

    @property
    def peak_pods(self) -> int:
        """Most server pods at once, during a rollout at full scale."""
        return self.max_pods + self.rollout_surge

    @property
    def startup_failure_threshold(self) -> int:
        """Startup probe failures that add up to modelLoadTimeoutSeconds."""
        period = int(chart_default("probes.startup.periodSeconds"))
        return math.ceil(self.model_load_timeout_seconds / period)


def pods_of(value: int | str, pods: int) -> int:
    """A rollout count or percentage as pods, rounded up like the Deployment controller."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(pods * int(value[:-1]) / 100)
    return int(value)
