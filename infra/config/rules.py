"""Rules between keys that the schema cannot express; each names the key to change.

Every rule runs once all fields are valid, and every broken rule is reported. Rules
about the chart's values are the chart's (templates/_validations.tpl); infra.stack
reports them next to these, so none is written twice.
"""

from __future__ import annotations

from typing import Any

from infra.chart import chart_default
from infra.config.hardware import (
    GPU_PRODUCT_LABEL,
    GPU_PRODUCTS,
    QUANTIZATIONS,
    WEIGHTS_SHARE,
    fits,
    load_seconds_floor,
    smallest_fitting_tp,
    weights_gib,
)
from infra.config.issues import ConfigIssue, show
from infra.config.models import expand, for_release, model_rules
from infra.config.schema import QuotaConfig, ResourceList, StackConfig
from infra.config.types import quantity_value
from service.quantize import MODELOPT_CONFIGS


def required_secrets(c: StackConfig) -> dict[str, str]:
    """Secret keys the stack cannot deploy without, and the key that requires each."""
    required = {}
    if c.registry.private:
        required["registryPassword"] = "registry.private"
    if c.require_api_keys:
        required["apiKeys"] = "requireApiKeys"
    return required


def rules(c: StackConfig) -> list[ConfigIssue]:
    """Rules between keys; each returns the key to change and why. All are reported.

    Rules about one release run for each of the stack's releases (a `models` entry's
    issues name the entry's key where the entry sets it); the quota holds their sum.
    """
    releases, issues = expand(c)
    if issues:
        return issues
    for release in releases:
        issues += [for_release(issue, c, release) for issue in release_rules(release.config)]
    issues += model_rules(c, releases)
    issues += _stack_rules(c, [r.config for r in releases])
    issues += _capacity_rules(c, [r.config for r in releases])
    return issues


def release_rules(c: StackConfig) -> list[ConfigIssue]:
    """Rules between the keys of one release."""
    issues: list[ConfigIssue] = []

    def bad(key: str, expected: str, got: Any) -> None:
        issues.append(ConfigIssue(key, expected, show(got)))

    if c.multi_node and c.spot.enabled:
        bad(
            "spot.enabled",
            "not supported with parallelism.nodes > 1: a spot reclaim of one node restarts "
            "the whole group",
            True,
        )
    if c.engine == "tensorrt-llm" and c.image_target != "runtime":
        bad("image.target", "must be runtime when engine is tensorrt-llm", c.image_target)
    if c.gpu.enabled and not c.multi_node and c.gpu.gpus_per_node % c.tensor_parallel_size:
        bad(
            "tensorParallelSize",
            f"must divide gpu.gpusPerNode ({c.gpu.gpus_per_node}): a pod's GPUs share a node",
            c.tensor_parallel_size,
        )
    issues += _parallelism_rules(c)

    scaling = c.autoscaling
    if scaling.enabled:
        if scaling.min_replicas is None:
            bad("autoscaling.minReplicas", "required when autoscaling.enabled", None)
        if scaling.max_replicas is None:
            bad("autoscaling.maxReplicas", "required when autoscaling.enabled", None)
    if c.spot.enabled and not c.gpu.enabled:
        bad("spot.enabled", "needs gpu.enabled: spot capacity is for GPU node pools", True)
    return issues + _profile_rules(c) + _quantize_rules(c)


def _parallelism_rules(c: StackConfig) -> list[ConfigIssue]:
    """How an instance's GPUs split over nodes. That parallelism.nodes divides tensor x
    pipeline is the chart's rule (it sizes the pods)."""
    issues: list[ConfigIssue] = []
    p = c.parallelism
    # tensorParallelSize keeps its default 1 when parallelism.tensor takes over.
    tp_set = c.tensor_parallel_size != 1
    if p.tensor is not None and tp_set and p.tensor != c.tensor_parallel_size:
        issues.append(
            ConfigIssue(
                "parallelism.tensor",
                f"conflicts with tensorParallelSize {c.tensor_parallel_size}: set one of them",
                show(p.tensor),
            )
        )
    world = c.gpus_per_instance
    if not c.multi_node or world % p.nodes:
        if c.gpu.enabled and p.pipeline > 1 and c.gpu.gpus_per_node % world:
            issues.append(
                ConfigIssue(
                    "parallelism.pipeline",
                    f"tensor x pipeline = {world} GPUs must divide gpu.gpusPerNode "
                    f"({c.gpu.gpus_per_node}) on one node; span nodes with parallelism.nodes",
                    show(p.pipeline),
                )
            )
        return issues
    if c.engine != "tensorrt-llm" or not c.gpu.enabled:
        issues.append(
            ConfigIssue(
                "parallelism.nodes",
                "> 1 needs engine tensorrt-llm and gpu.enabled (MPI ranks on GPU nodes)",
                show(p.nodes),
            )
        )
    if c.gpu.enabled and c.gpus_per_pod != c.gpu.gpus_per_node:
        issues.append(
            ConfigIssue(
                "parallelism.nodes",
                f"must split tensor x pipeline = {world} GPUs into whole nodes of "
                f"gpu.gpusPerNode ({c.gpu.gpus_per_node}): {c.gpus_per_pod} per pod "
                "would share nodes with other pods' NCCL traffic",
                show(p.nodes),
            )
        )
    # Every node loads the weights itself from the same path: upstream's multi-node
    # launch does not download from the hub.
    on_claim = (c.model.path or "").startswith("/") and c.model_cache.existing_claim
    if not c.model_cache_prefill and not on_claim:
        issues.append(
            ConfigIssue(
                "modelCache.prefill",
                "must be true when parallelism.nodes > 1 (or model.path a directory on "
                "modelCache.existingClaim): every node reads the weights from the shared "
                "cache, and TensorRT-LLM's multi-node launch downloads nothing",
                show(c.model_cache.prefill),
            )
        )
    return issues


def _stack_rules(c: StackConfig, releases: list[StackConfig]) -> list[ConfigIssue]:
    """Rules between the keys every release shares."""
    issues: list[ConfigIssue] = []

    def bad(key: str, expected: str, got: Any) -> None:
        issues.append(ConfigIssue(key, expected, show(got)))

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

    hpa_scaled = any(r.autoscaling.enabled and r.autoscaling.mode != "keda" for r in releases)
    if c.prometheus_adapter.enabled and not c.monitoring.enabled:
        bad(
            "monitoring.enabled",
            "must be true when prometheusAdapter.enabled: the adapter "
            "reads what Prometheus scrapes",
            c.monitoring.enabled,
        )
    if c.prometheus_adapter.enabled and not hpa_scaled:
        bad(
            "prometheusAdapter.enabled",
            "only useful with autoscaling.enabled and autoscaling.mode hpa",
            True,
        )
    policy = c.network_policy
    if policy.enabled and c.monitoring.enabled and not policy.monitoring_namespaces:
        bad(
            "networkPolicy.monitoringNamespaces",
            "must list Prometheus's namespace when monitoring.enabled, or scrapes are dropped",
            [],
        )
    if c.routing.mode == "inferencePool" and policy.enabled and not policy.ingress_namespaces:
        bad(
            "networkPolicy.ingressNamespaces",
            "must list the Gateway's namespace when routing.mode is inferencePool",
            [],
        )
    if c.ingress.enabled and policy.enabled and not policy.ingress_namespaces:
        bad(
            "networkPolicy.ingressNamespaces",
            "must list the ingress controller's namespace when ingress.enabled",
            [],
        )
    return issues


def _capacity_rules(c: StackConfig, releases: list[StackConfig]) -> list[ConfigIssue]:
    """The quota must hold the most pods the stack's releases can run at once, and their
    caches: the sum over releases, each at full scale during its rollout."""
    issues: list[ConfigIssue] = []
    if not c.quota.enabled:
        return issues
    q = c.quota

    def why(unit: str) -> str:
        parts = [
            f"{_pods(r)} + {r.rollout_surge} rollout surge{_nodes(r)}{unit.format(r=r)}"
            for r in releases
        ]
        if len(releases) == 1:
            return parts[0]
        return "sum over releases: " + "; ".join(
            f"{r.release_name} {part}" for r, part in zip(releases, parts, strict=True)
        )

    peak = sum(r.peak_server_pods for r in releases)
    gpus = sum(r.peak_server_pods * r.gpus_per_pod for r in releases if r.gpu.enabled)
    if any(r.gpu.enabled for r in releases) and q.gpus < gpus:
        split = any(r.gpus_per_pod != r.tensor_parallel_size for r in releases)
        per_pod = (
            ", x {r.gpus_per_pod} GPUs per pod (tensor x pipeline / nodes)"
            if split
            else " x tensorParallelSize {r.tensor_parallel_size}"
        )
        issues.append(
            ConfigIssue("quota.gpus", f"must be >= {gpus} ({why(per_pod)})", show(q.gpus))
        )
    if q.pods < peak:
        issues.append(ConfigIssue("quota.pods", f"must be >= {peak} ({why('')})", show(q.pods)))
    # One line per key: the stricter of the two figures.
    reported = {issue.key for issue in issues}
    issues += [i for i in _cache_job_capacity(q, releases) if i.key not in reported]
    for name, limit in (("cpu", q.cpu), ("memory", q.memory)):
        per_pod = [_request(r, name) for r in releases]
        if any(p is None for p in per_pod):
            continue
        needed = sum(
            r.peak_server_pods * quantity_value(str(p))
            for r, p in zip(releases, per_pod, strict=True)
        )
        if quantity_value(limit) < needed:
            shown = " + ".join(
                f"{r.peak_server_pods} x {p}" for r, p in zip(releases, per_pod, strict=True)
            )
            issues.append(
                ConfigIssue(
                    f"quota.{name}",
                    f"must hold {shown} ({why('')}, x resources.requests.{name})",
                    show(limit),
                )
            )
    sizes = [
        r.model_cache.size or chart_default("modelCache.size")
        for r in releases
        if r.model_cache_claim_created
    ]
    if sizes and quantity_value(q.storage) < sum(quantity_value(size) for size in sizes):
        issues.append(
            ConfigIssue(
                "quota.storage",
                f"must be >= modelCache.size ({' + '.join(sizes)})",
                show(q.storage),
            )
        )
    return issues


def _cache_job_capacity(q: QuotaConfig, releases: list[StackConfig]) -> list[ConfigIssue]:
    """While a model cache Job runs, the pods of the previous model still serve: the quota
    holds every release at full scale plus its Job's pod, and the quantize Job's GPUs,
    CPU and memory (its requests are the chart's modelCache.quantizeJob.resources)."""
    jobs = [r for r in releases if r.model_cache_prefill]
    if not jobs:
        return []
    job_requests = chart_default("modelCache.quantizeJob.resources")["requests"]

    issues: list[ConfigIssue] = []
    quantizing = [r for r in jobs if r.quantize_gpus]
    job_gpus = sum(r.quantize_gpus or 0 for r in quantizing)

    def serving(r: StackConfig) -> int:
        # A release whose Job runs has not started rolling; its instances are whole groups.
        return (r.max_pods if r in jobs else r.peak_pods) * r.parallelism.nodes

    gpus = sum(serving(r) * r.gpus_per_pod for r in releases if r.gpu.enabled)
    if quantizing and q.gpus < gpus + job_gpus:
        issues.append(
            ConfigIssue(
                "quota.gpus",
                f"must be >= {gpus + job_gpus} ({gpus} of the serving pods + the quantize "
                f"Job's {job_gpus} GPUs while it runs)",
                show(q.gpus),
            )
        )
    pods = sum(serving(r) for r in releases) + len(jobs)
    if q.pods < pods:
        issues.append(
            ConfigIssue(
                "quota.pods",
                f"must be >= {pods} (the serving pods + {len(jobs)} model cache Job pod(s) "
                "while they run)",
                show(q.pods),
            )
        )
    for name, limit in (("cpu", q.cpu), ("memory", q.memory)):
        per_pod = [_request(r, name) for r in releases]
        if not quantizing or any(p is None for p in per_pod):
            continue
        job = str(job_requests[name])
        requested = sum(
            serving(r) * quantity_value(str(p)) for r, p in zip(releases, per_pod, strict=True)
        )
        needed = requested + len(quantizing) * quantity_value(job)
        if quantity_value(limit) < needed:
            issues.append(
                ConfigIssue(
                    f"quota.{name}",
                    f"must hold the serving pods' requests + the quantize Job's {job} while "
                    "it runs",
                    show(limit),
                )
            )
    return issues


def _pods(c: StackConfig) -> str:
    """A release's most pods (groups, multi-node), split into floor and spot burst where
    it has one."""
    if c.multi_node:
        return f"{c.max_pods} groups"
    if not c.spot.enabled:
        return f"{c.max_pods} pods"
    floor = c.spot.on_demand_replicas
    return f"{floor} on-demand + {c.max_pods - floor} spot pods"


def _nodes(c: StackConfig) -> str:
    """The pods of a release's instance, where an instance is a multi-node group."""
    return f", x parallelism.nodes {c.parallelism.nodes}" if c.multi_node else ""


def _request(c: StackConfig, name: str) -> str | None:
    requests = c.resources.requests or ResourceList()
    return getattr(requests, name) or chart_default("resources.requests").get(name)


def _profile_rules(c: StackConfig) -> list[ConfigIssue]:
    """The model profile against the engine, the checkpoint and the stack's GPUs."""
    issues: list[ConfigIssue] = []
    model = c.model
    quantization = QUANTIZATIONS[model.quantization]
    quantized = quantization.name != "none"

    if quantized and c.engine != "tensorrt-llm":
        issues.append(
            ConfigIssue("model.quantization", "needs engine tensorrt-llm", show(model.quantization))
        )
    if quantized and not model.pre_quantized and not c.model_cache_quantize:
        issues.append(
            ConfigIssue(
                "model.preQuantized",
                f"must be true with model.quantization {quantization.name}: TensorRT-LLM's "
                "PyTorch backend loads ModelOpt-quantized checkpoints (e.g. nvidia/*-FP8) "
                "and does not quantize weights on load (or set modelCache.quantize)",
                show(model.pre_quantized),
            )
        )
    if quantized and model.parameters_billions is None:
        issues.append(
            ConfigIssue(
                "model.parametersBillions",
                "required with a quantization, for the GPU memory-fit check",
                None,
            )
        )
    engine_kv = ((c.server.engine_options or {}).get("kv_cache_config") or {}).get("dtype")
    if model.kv_cache_dtype != "auto" and engine_kv is not None:
        issues.append(
            ConfigIssue(
                "model.kvCacheDtype",
                "set it here or in server.engineOptions.kv_cache_config.dtype, not both",
                show(model.kv_cache_dtype),
            )
        )

    if model.parameters_billions is not None and c.engine == "tensorrt-llm":
        weights = weights_gib(model.parameters_billions, quantization.name)
        # With prefill the Job downloads (its own deadline); pods only read the cache.
        downloads = not c.model_cache_prefill
        speeds = c.model_load_assumptions
        floor = load_seconds_floor(
            weights,
            downloads,
            cache_read_gib_per_second=speeds.cache_read_gib_per_second,
            hub_download_gib_per_second=speeds.hub_download_gib_per_second,
            engine_start_seconds=speeds.engine_start_seconds,
        )
        if c.model_load_timeout_seconds < floor:
            path = "download and load" if downloads else "load from the prefilled cache"
            issues.append(
                ConfigIssue(
                    "modelLoadTimeoutSeconds",
                    f"must be >= {floor} to {path} {weights:.0f} GiB of weights "
                    f"({model.parameters_billions:g}B at {quantization.name}) at the speeds "
                    "modelLoadAssumptions assumes",
                    show(c.model_load_timeout_seconds),
                )
            )

    if not c.gpu.enabled or (not quantized and model.parameters_billions is None):
        return issues
    label = c.gpu.node_selector.get(GPU_PRODUCT_LABEL)
    product = GPU_PRODUCTS.get(label or "")
    if product is None:
        issues.append(
            ConfigIssue(
                f"gpu.nodeSelector.{GPU_PRODUCT_LABEL}",
                "must name a GPU product the profile check knows ("
                + ", ".join(GPU_PRODUCTS)
                + ") when the model sets a quantization or parametersBillions",
                show(label),
            )
        )
        return issues
    if product.architecture not in quantization.architectures:
        needs = " or ".join(sorted(quantization.architectures))
        issues.append(
            ConfigIssue(
                "model.quantization",
                f"{quantization.name} needs {needs} GPUs; gpu.nodeSelector selects "
                f"{product.label} ({product.architecture})",
                show(quantization.name),
            )
        )
    billions = model.parameters_billions
    tp = c.gpus_per_instance
    if billions is not None and not fits(billions, quantization.name, product, tp):
        weights = weights_gib(billions, quantization.name)
        smallest = smallest_fitting_tp(billions, quantization.name, product, c.gpu.gpus_per_node)
        where = (
            f"needs tensorParallelSize >= {smallest}"
            if smallest is not None
            else f"does not fit in one node's {c.gpu.gpus_per_node} GPUs: span nodes "
            "(parallelism.nodes), or use a smaller quantization or a larger GPU"
        )
        if c.gpus_per_instance > c.gpu.gpus_per_node:
            where = f"does not fit in {c.gpus_per_instance} GPUs (tensor x pipeline)"
        issues.append(
            ConfigIssue(
                "tensorParallelSize",
                f"{where}: {billions:g}B parameters at {quantization.name} are "
                f"{weights:.0f} GiB of weights, and weights may take "
                f"{WEIGHTS_SHARE:.0%} of each {product.label}'s {product.memory_gib:g} GiB "
                "(the rest is runtime and KV cache)",
                show(tp),
            )
        )
    return issues


def _quantize_rules(c: StackConfig) -> list[ConfigIssue]:
    """The quantize Job: something ModelOpt can produce, from a plain checkpoint, on GPUs."""
    if not c.model_cache_quantize:
        return []
    model = c.model
    if model.quantization == "none":
        return [
            ConfigIssue(
                "modelCache.quantize",
                "needs a model.quantization other than none: there is nothing to quantize",
                show(True),
            )
        ]
    issues: list[ConfigIssue] = []
    if model.quantization not in MODELOPT_CONFIGS:
        issues.append(
            ConfigIssue(
                "model.quantization",
                f"{model.quantization} has no ModelOpt post-training recipe TensorRT-LLM loads "
                f"under that name ({', '.join(MODELOPT_CONFIGS)} do); serve a checkpoint "
                "published quantized (model.preQuantized) instead",
                show(model.quantization),
            )
        )
    if model.pre_quantized:
        issues.append(
            ConfigIssue(
                "modelCache.quantize",
                "must be false with model.preQuantized: the checkpoint is already quantized",
                show(True),
            )
        )
    product = GPU_PRODUCTS.get(c.gpu.node_selector.get(GPU_PRODUCT_LABEL, ""))
    if model.parameters_billions is not None and product is not None and c.quantize_gpus is None:
        weights = weights_gib(model.parameters_billions, "none")
        issues.append(
            ConfigIssue(
                "modelCache.quantize",
                f"the 16-bit checkpoint ({weights:.0f} GiB) does not fit one node's "
                f"{c.gpu.gpus_per_node} {product.label} GPUs for calibration: quantize it "
                "elsewhere and set model.preQuantized",
                show(True),
            )
        )
    return issues
