"""Every Pulumi.<stack>.yaml, run through the real program under Pulumi's mocks."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from infra.chart import (
    CHART_DIR,
    SERVER_PORT_NAME,
    endpoint_picker_labels,
    endpoint_picker_ports,
    helm_test_pod_labels,
    prefill_pod_labels,
    selector_labels,
    service_port,
)
from infra.config import StackConfig
from infra.config.models import releases
from infra.config.schema import IngressConfig, RoutingConfig
from infra.gpu import DEVICE_PLUGIN_CHART
from infra.keda import KEDA_CHART
from infra.namespace import NAMESPACE_NAME_LABEL, POD_SECURITY_ENFORCE_VERSION
from infra.prometheus_adapter import PROMETHEUS_ADAPTER_CHART
from infra.service_secrets import secret_names
from infra.stack import load_stack
from infra.values import release_values, render_stack
from service.metric_names import REQUESTS_WAITING
from tests.infra.harness import (
    MOCK_DIGEST,
    PROJECT,
    STACKS,
    TEST_SECRETS,
    ProgramRun,
    Registration,
    repo_path,
    run_program,
    stack_config,
)

NAMESPACE = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECRET = "kubernetes:core/v1:Secret"
IMAGE = "docker:index/image:Image"


@cache
def stack_run(stack: str) -> ProgramRun:
    config, secret_keys = stack_config(stack)
    run = run_program(config, secret_keys, stack=stack)
    assert run.error is None, f"stack {stack} failed: {run.error}"
    return run


@cache
def stack_model(stack: str) -> StackConfig:
    return load_stack(stack)


def server_release(run: ProgramRun) -> Registration:
    return run.one(RELEASE, "server-release")


def test_stacks_are_discovered() -> None:
    assert {"dev", "prod"} <= set(STACKS)


COMPONENT = "tensorrt-llm:index:"
SERVER = {
    (f"{COMPONENT}ServerNamespace", "server-namespace"),
    (NAMESPACE, "server-namespace-namespace"),
    ("kubernetes:core/v1:ResourceQuota", "server-namespace-quota"),
    ("kubernetes:core/v1:LimitRange", "server-namespace-limits"),
    (f"{COMPONENT}ServerSecrets", "server-secrets"),
    (f"{COMPONENT}ServerImage", "server-image"),
    (IMAGE, "server-image-build"),
    (f"{COMPONENT}ServerRelease", "server"),
    (RELEASE, "server-release"),
}
BASE_POLICIES = {
    (POLICY, f"server-namespace-{name}")
    for name in (
        "default-deny",
        "allow-dns-egress",
        "allow-model-hub-egress",
        "allow-helm-test-ingress",
        "allow-helm-test-egress",
        "allow-ingress-controllers",
    )
}
GPU_PLUGIN = {
    (f"{COMPONENT}GpuDevicePlugin", "gpu"),
    (NAMESPACE, "gpu-namespace"),
    ("kubernetes:core/v1:ResourceQuota", "gpu-critical-pods"),
    (RELEASE, "gpu-release"),
}
EPP_POLICIES = {
    (POLICY, f"server-namespace-allow-endpoint-picker-{name}")
    for name in ("ingress", "egress", "scrape")
}


def model_releases(*names: str) -> set[tuple[str, str]]:
    """A `models` stack's release components: each named after its Helm release."""
    return {
        item
        for name in names
        for item in (
            (f"{COMPONENT}ServerRelease", f"server-{name}"),
            (RELEASE, f"server-{name}-release"),
        )
    }


# A release with spot capacity needs the namespace's spot PriorityClass.
SPOT_PRIORITY = ("kubernetes:scheduling.k8s.io/v1:PriorityClass", "server-namespace-spot-priority")
# What each stack creates; a new stack file adds its own line here.
EXPECTED_RESOURCES: dict[str, set[tuple[str, str]]] = {
    # A laptop cluster: the server alone, no Secrets it does not use.
    "dev": SERVER | BASE_POLICIES,
    "prod": SERVER
    | BASE_POLICIES
    | {
        (POLICY, "server-namespace-allow-monitoring"),
        (SECRET, "server-secrets-api-keys"),
        (SECRET, "server-secrets-image-pull"),
        (f"{COMPONENT}GpuDevicePlugin", "gpu"),
        (NAMESPACE, "gpu-namespace"),
        ("kubernetes:core/v1:ResourceQuota", "gpu-critical-pods"),
        (RELEASE, "gpu-release"),
        (f"{COMPONENT}Keda", "keda"),
        (NAMESPACE, "keda-namespace"),
        (RELEASE, "keda-release"),
        SPOT_PRIORITY,
    },
    # Two models, the second as a stable and a canary release, behind one HTTPRoute.
    "multi": (SERVER - {(f"{COMPONENT}ServerRelease", "server"), (RELEASE, "server-release")})
    | model_releases("qwen-32b", "llama-8b-v1", "llama-8b-v2")
    | BASE_POLICIES
    | EPP_POLICIES
    | GPU_PLUGIN
    | {
        (POLICY, "server-namespace-allow-monitoring"),
        (SECRET, "server-secrets-api-keys"),
        (SECRET, "server-secrets-image-pull"),
        (f"{COMPONENT}ModelRoutes", "model-routes"),
        ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "model-routes-httproute"),
        SPOT_PRIORITY,
        (f"{COMPONENT}CanaryAnalysis", "canary-analysis"),
        ("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate", "canary-analysis-llama-8b-canary"),
    },
}
# A 405B model over two nodes per instance: prod's set, the cache filled before the
# release (every node loads from it), and the policy that lets a group's ranks talk.
EXPECTED_RESOURCES["prod-405b"] = (EXPECTED_RESOURCES["prod"] - {SPOT_PRIORITY}) | {
    (POLICY, "server-namespace-allow-group-ranks"),
    (f"{COMPONENT}ModelCachePrefill", "model-cache"),
    ("kubernetes:core/v1:PersistentVolumeClaim", "model-cache-claim"),
    ("kubernetes:batch/v1:Job", "model-cache-job"),
}


@pytest.mark.parametrize("stack", STACKS)
def test_resource_set(stack: str) -> None:
    assert stack in EXPECTED_RESOURCES, f"add Pulumi.{stack}.yaml's resources to this test"
    assert stack_run(stack).names() == sorted(EXPECTED_RESOURCES[stack])


@pytest.mark.parametrize("stack", STACKS)
def test_children_are_parented_and_named_after_their_component(stack: str) -> None:
    run = stack_run(stack)
    components = {r.urn: r for r in run.registrations if not r.custom}
    for r in run.registrations:
        if r.custom:
            parent = components.get(r.parent)
            assert parent is not None, f"{r.urn} has no component parent"
            assert r.name.startswith(f"{parent.name}-"), f"{r.urn} not named {parent.name}-..."
        else:
            assert r.type.startswith("tensorrt-llm:index:"), r.urn


def test_dev_is_a_laptop_cluster_and_prod_a_gpu_fleet() -> None:
    dev, prod = stack_model("dev"), stack_model("prod")
    assert (dev.gpu.enabled, dev.device_plugin_enabled, dev.autoscaling.enabled) == (
        False,
        False,
        False,
    )
    assert dev.engine in ("simulated", "transformers") and dev.replicas == 1
    assert not dev.monitoring.enabled
    assert prod.engine == "tensorrt-llm" and prod.tensor_parallel_size == 2
    assert prod.device_plugin_enabled and prod.monitoring.enabled and prod.registry.private
    assert (prod.autoscaling.min_replicas, prod.quota.gpus) == (2, 12)
    assert (prod.spot.enabled, prod.spot.on_demand_replicas) == (True, 2)
    assert prod.pod_disruption_budget.max_unavailable == 1
    assert prod.model_cache.type == "pvc" and prod.model_cache.access_mode == "ReadWriteMany"


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_enforces_restricted(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    namespace = run.one(NAMESPACE, "server-namespace-namespace")
    labels = namespace.plain("metadata")["labels"]
    assert namespace.plain("metadata")["name"] == c.namespace
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", namespace.urn
    assert labels["pod-security.kubernetes.io/enforce-version"] == POD_SECURITY_ENFORCE_VERSION
    for mode in ("audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest", namespace.urn


@pytest.mark.parametrize("stack", STACKS)
def test_quota_and_limit_range(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    quota = run.one("kubernetes:core/v1:ResourceQuota", "server-namespace-quota")
    hard = quota.plain("spec")["hard"]
    assert hard == {
        "requests.cpu": c.quota.cpu,
        "requests.memory": c.quota.memory,
        "requests.storage": c.quota.storage,
        "pods": str(c.quota.pods),
        f"requests.{c.gpu.resource_name}": str(c.quota.gpus),
    }, quota.urn
    limits = run.one("kubernetes:core/v1:LimitRange", "server-namespace-limits")
    (item,) = limits.plain("spec")["limits"]
    assert item["type"] == "Container"
    assert item["defaultRequest"] == {
        "cpu": c.limit_range.default_cpu_request,
        "memory": c.limit_range.default_memory_request,
    }, limits.urn
    # A CPU limit default would throttle the server, which sets no CPU limit on purpose.
    assert set(item["default"]) == {"memory"}, limits.urn


def _policy(run: ProgramRun, name: str) -> dict:
    return run.one(POLICY, f"server-namespace-{name}").plain("spec")


def _namespaces_of(peer: dict) -> list[str]:
    (expression,) = peer["namespaceSelector"]["matchExpressions"]
    assert (expression["key"], expression["operator"]) == (NAMESPACE_NAME_LABEL, "In")
    return expression["values"]


def pods_of(labels: Any, names: list[str]) -> dict[str, Any]:
    """The selector of those pods in every one of the releases `names`: by release for
    one, by kind alone for several (the namespace holds only the stack's releases)."""
    if len(names) == 1:
        return {"matchLabels": labels(names[0])}
    kind = {k: v for k, v in labels(names[0]).items() if k != "app.kubernetes.io/instance"}
    assert kind, "a selector without labels would select every pod"
    return {"matchLabels": kind}


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    names = [r.config.release_name for r in releases(c)]
    server_pods = pods_of(selector_labels, names)

    deny = _policy(run, "default-deny")
    assert deny.get("podSelector", {}) == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny

    dns = _policy(run, "allow-dns-egress")
    (rule,) = dns["egress"]
    assert [_namespaces_of(peer) for peer in rule["to"]] == [[c.network_policy.dns_namespace]]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]

    hub = _policy(run, "allow-model-hub-egress")
    # With a prefilled cache only the prefill Job's pod downloads.
    downloaders = prefill_pod_labels(c.release_name) if c.model_cache_prefill else None
    assert hub["podSelector"] == ({"matchLabels": downloaders} if downloaders else server_pods)
    (rule,) = hub["egress"]
    assert [peer["ipBlock"]["cidr"] for peer in rule["to"]] == c.network_policy.model_hub_cidrs
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]

    # `helm test`: the test pod (and only it) may reach the server port, both directions.
    server_port = [{"port": SERVER_PORT_NAME, "protocol": "TCP"}]
    test_pods = pods_of(helm_test_pod_labels, names)
    assert test_pods != server_pods
    test_in = _policy(run, "allow-helm-test-ingress")
    assert test_in["podSelector"] == server_pods and test_in["policyTypes"] == ["Ingress"]
    (rule,) = test_in["ingress"]
    assert rule["from"] == [{"podSelector": test_pods}] and rule["ports"] == server_port
    test_out = _policy(run, "allow-helm-test-egress")
    assert test_out["podSelector"] == test_pods and test_out["policyTypes"] == ["Egress"]
    (rule,) = test_out["egress"]
    assert rule["to"] == [{"podSelector": server_pods}] and rule["ports"] == server_port

    sources = {"allow-ingress-controllers": c.network_policy.ingress_namespaces}
    if c.monitoring.enabled:
        sources["allow-monitoring"] = c.network_policy.monitoring_namespaces
    for name, namespaces in sources.items():
        spec = _policy(run, name)
        assert spec["podSelector"] == server_pods and spec["policyTypes"] == ["Ingress"]
        (rule,) = spec["ingress"]
        assert [_namespaces_of(peer) for peer in rule["from"]] == [sorted(namespaces)]
        assert rule["ports"] == [{"port": SERVER_PORT_NAME, "protocol": "TCP"}]
    if c.multi_node:
        # A group's ranks: server pods to server pods on TCP (MPI, NCCL), nothing wider.
        ranks = _policy(run, "allow-group-ranks")
        assert ranks["podSelector"] == server_pods
        (rule,) = ranks["ingress"]
        assert rule == {"from": [{"podSelector": server_pods}], "ports": [{"protocol": "TCP"}]}
        (rule,) = ranks["egress"]
        assert rule == {"to": [{"podSelector": server_pods}], "ports": [{"protocol": "TCP"}]}
        sources["allow-group-ranks"] = []
    # Nothing else: every policy is one of the above.
    expected = {"default-deny", "allow-dns-egress", "allow-model-hub-egress", *sources}
    expected |= {"allow-helm-test-ingress", "allow-helm-test-egress"}
    if c.routing.mode == "inferencePool":
        expected |= {f"allow-endpoint-picker-{name}" for name in ("ingress", "egress", "scrape")}
    assert {r.name.removeprefix("server-namespace-") for r in run.of_type(POLICY)} == expected


@pytest.mark.parametrize("stack", STACKS)
def test_device_plugin(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    plugin = [r for r in run.of_type(RELEASE) if r.name == "gpu-release"]
    if not c.device_plugin_enabled:
        assert plugin == []
        return
    (release,) = plugin
    assert release.plain("chart") == "nvidia-device-plugin"
    assert release.plain("version") == DEVICE_PLUGIN_CHART.version
    assert release.plain("repositoryOpts") == {"repo": DEVICE_PLUGIN_CHART.repo}
    assert release.plain("namespace") == c.gpu.device_plugin_namespace
    values = release.plain("values")
    # The chart's own affinity (NFD's NVIDIA PCI label or nvidia.com/gpu.present=true)
    # places it on every GPU node; the server's selector is not the plugin's.
    assert "nodeSelector" not in values and "affinity" not in values
    assert {"key": c.gpu.resource_name, "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    namespace = run.one(NAMESPACE, "gpu-namespace").plain("metadata")
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("stack", STACKS)
def test_server_release(stack: str) -> None:
    run = stack_run(stack)
    for stack_release in releases(stack_model(stack)):
        c = stack_release.config
        release = run.one(RELEASE, f"{stack_release.resource_name}-release")
        assert repo_path(release.plain("chart")) == CHART_DIR, release.urn
        assert release.plain("name") == c.release_name
        assert release.plain("namespace") == c.namespace
        assert release.plain("timeout") > c.model_load_timeout_seconds
        values = release.plain("values")
        image_ref = c.image.ref or f"{c.image.repository}@{MOCK_DIGEST}"
        assert values == release_values(stack_release, image_ref), release.urn
        if c.image.repository:
            assert values["image"] == {"repository": c.image.repository, "digest": MOCK_DIGEST}
        assert values["tensorParallelSize"] == c.tensor_size
        assert values["gpu"]["enabled"] is c.gpu.enabled
        assert values["engine"] == c.engine
        assert values["fullnameOverride"] == c.release_name
        # Secret values never reach chart values: only Secret names do.
        assert not any(secret in json.dumps(values) for secret in TEST_SECRETS.values())


@pytest.mark.parametrize("stack", STACKS)
def test_release_depends_on_namespace_secrets_and_device_plugin(stack: str) -> None:
    run = stack_run(stack)
    for stack_release in releases(stack_model(stack)):
        release = run.one(RELEASE, f"{stack_release.resource_name}-release")
        components = ["server-namespace", "server-secrets", "gpu", "keda"]
        for component in (r for r in run.registrations if r.name in components and not r.custom):
            for child in run.descendants(component.urn):
                assert child.urn in release.dependencies, f"{release.urn} waits not for {child.urn}"
        if stack_model(stack).image.repository:
            assert run.one(IMAGE, "server-image-build").urn in release.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_stay_secret(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    for secret in run.of_type(SECRET):
        assert rpc.is_rpc_secret(secret.inputs["stringData"]), f"{secret.urn} stringData plain"
    names = secret_names(c)
    if names.image_pull:
        pull = run.one(SECRET, "server-secrets-image-pull")
        assert pull.plain("type") == "kubernetes.io/dockerconfigjson"
        document = json.loads(pull.plain("stringData")[".dockerconfigjson"])
        auth = document["auths"][c.registry.server]
        assert auth["password"] == TEST_SECRETS["registryPassword"], pull.urn
    if names.api_keys:
        keys = run.one(SECRET, "server-secrets-api-keys").plain("stringData")
        assert keys == {"API_KEYS": TEST_SECRETS["apiKeys"]}
    if c.image.repository and c.registry.private:
        build = run.one(IMAGE, "server-image-build")
        assert rpc.is_rpc_secret(build.inputs["registry"]), build.urn
    assert run.secret_outputs == set(), "stack outputs hold no secrets and must stay readable"


@pytest.mark.parametrize("stack", STACKS)
def test_image_build(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    if c.image.ref:
        assert run.of_type(IMAGE) == []
        return
    build = run.one(IMAGE, "server-image-build")
    args = build.plain("build")
    assert repo_path(args["context"]) == CHART_DIR.parents[2]
    assert repo_path(args["dockerfile"]) == CHART_DIR.parents[2] / "service" / "Dockerfile"
    assert args["target"] == c.image_target and args["platform"] == "linux/amd64"
    assert build.plain("imageName") == f"{c.image.repository}:{c.image.tag or stack}"
    if c.image_target == "runtime" and c.image.tensorrt_llm_version:
        assert args["args"] == {"TRTLLM_VERSION": c.image.tensorrt_llm_version}
    if c.image_target == "cpu":
        assert args["args"]["CPU_EXTRAS"].split(",")[0] == "server"
    # Docker ignores an unknown build arg with only a warning, and a missing stage fails
    # only at build time: check both against the Dockerfile itself.
    dockerfile = (CHART_DIR.parents[2] / "service" / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.MULTILINE))
    declared = set(re.findall(r"^ARG\s+([A-Z_]+)", dockerfile, re.MULTILINE))
    assert args["target"] in stages, (args["target"], stages)
    assert set(args.get("args", {})) <= declared, (args.get("args"), declared)


@pytest.mark.parametrize("stack", STACKS)
def test_outputs(stack: str) -> None:
    run, c = stack_run(stack), stack_model(stack)
    port = service_port()
    shared = {
        "namespace": c.namespace,
        "imageRef": c.image.ref or f"{c.image.repository}@{MOCK_DIGEST}",
    }
    if c.models:
        statuses = {r.config.release_name: "deployed" for r in releases(c)}
        assert run.outputs == {**shared, "releaseStatuses": statuses}
        return
    assert run.outputs == {
        **shared,
        "releaseName": c.release_name,
        "releaseStatus": "deployed",
        "serviceUrl": f"http://{c.release_name}.{c.namespace}.svc.cluster.local:{port}",
        "portForwardCommand": (
            f"kubectl --namespace {c.namespace} port-forward service/{c.release_name} {port}:{port}"
        ),
    }


def _prod_with(**changes: Any) -> ProgramRun:
    """The prod stack with some top-level keys replaced (JSON objects replace whole)."""
    config, secret_keys = stack_config("prod")
    for key, value in changes.items():
        config[f"{PROJECT}:{key}"] = json.dumps(value)
    run = run_program(config, secret_keys, stack="prod")
    assert run.error is None, str(run.error)
    return run


def test_prometheus_adapter_exposes_the_queue_metric() -> None:
    """The deprecated path still works: autoscaling.mode hpa on prometheus-adapter."""
    scaling = {**json.loads(stack_config("prod")[0][f"{PROJECT}:autoscaling"]), "mode": "hpa"}
    # An HPA cannot hold the spot Deployment at zero: one spot pod above the floor.
    scaling["minReplicas"] = 3
    del scaling["keda"]
    run = _prod_with(
        autoscaling=scaling,
        keda={"install": False},
        prometheusAdapter={"enabled": True, "prometheusUrl": "http://prometheus.monitoring.svc"},
    )
    stack = "prod"
    adapters = [r for r in run.of_type(RELEASE) if r.name == "prometheus-adapter-release"]
    assert len(adapters) == 1
    assert not [r for r in run.of_type(RELEASE) if r.name == "keda-release"]
    for adapter in adapters:
        values = adapter.plain("values")
        assert values["rules"]["default"] is False
        (rule,) = values["rules"]["custom"]
        assert rule["seriesQuery"].startswith(REQUESTS_WAITING + "{")
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        # The HPA asks the custom metrics API for this exact name, per pod.
        assert rule["name"]["as"] == REQUESTS_WAITING
        assert rule["metricsQuery"] == "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
        assert adapter.plain("version") == PROMETHEUS_ADAPTER_CHART.version
        # It was a child of the server's component once; the alias keeps it in place.
        # (A top-level resource's URN names no Stack type; the mocks' URNs do.)
        former_parent = f"urn:pulumi:{stack}::{PROJECT}::tensorrt-llm:index:ServerRelease::server"
        assert adapter.aliases == [("server-prometheus-adapter", former_parent)], adapter.urn


def test_gpu_operator_stacks_get_no_device_plugin() -> None:
    """Where the GPU Operator already runs a device plugin, a second one would fight it."""
    config, secret_keys = stack_config("prod")
    gpu = json.loads(config[f"{PROJECT}:gpu"])
    config[f"{PROJECT}:gpu"] = json.dumps({**gpu, "provisioner": "gpu-operator"})
    run = run_program(config, secret_keys, stack="prod")
    assert run.error is None, str(run.error)
    assert not [r for r in run.registrations if r.name == "gpu" or r.name.startswith("gpu-")]
    values = server_release(run).plain("values")
    assert values["gpu"]["enabled"] is True and values["tensorParallelSize"] == 2


def test_prod_installs_pinned_keda_before_the_server() -> None:
    run = stack_run("prod")
    keda = run.one(RELEASE, "keda-release")
    assert (keda.plain("chart"), keda.plain("version")) == ("keda", KEDA_CHART.version)
    assert keda.plain("repositoryOpts")["repo"] == KEDA_CHART.repo
    assert keda.urn in server_release(run).dependencies
    values = server_release(run).plain("values")
    assert values["autoscaling"]["mode"] == "keda"
    assert values["autoscaling"]["keda"]["prometheusAddress"].startswith("http://")


def test_an_existing_keda_is_used_not_installed() -> None:
    run = _prod_with(keda={"install": False})
    assert not [r for r in run.registrations if r.name.startswith("keda")]
    assert server_release(run).plain("values")["autoscaling"]["mode"] == "keda"


def test_inference_pool_routing_reaches_the_chart() -> None:
    run = _prod_with(
        ingress={"enabled": False},
        routing={"mode": "inferencePool", "gateway": {"name": "gw", "namespace": "gateways"}},
    )
    routing = server_release(run).plain("values")["routing"]
    assert routing["mode"] == "inferencePool"
    assert routing["inferencePool"]["gateway"] == {"name": "gw", "namespace": "gateways"}


def test_inference_pool_policies_admit_gateway_picker_and_scrape() -> None:
    run = _prod_with(ingress={"enabled": False}, routing={"mode": "inferencePool"})
    c = stack_model("prod")
    server_pods = {"matchLabels": selector_labels(c.release_name)}
    picker = {"matchLabels": endpoint_picker_labels(c.release_name)}
    ports = endpoint_picker_ports()

    inbound = _policy(run, "allow-endpoint-picker-ingress")
    assert inbound["podSelector"] == picker
    by_port = {rule["ports"][0]["port"]: rule for rule in inbound["ingress"]}
    gateway = by_port[ports["extProc"]]
    assert [_namespaces_of(p) for p in gateway["from"]] == [c.network_policy.ingress_namespaces]
    scrape_picker = by_port[ports["metrics"]]
    assert [_namespaces_of(p) for p in scrape_picker["from"]] == [
        c.network_policy.monitoring_namespaces
    ]

    outbound = _policy(run, "allow-endpoint-picker-egress")
    assert outbound["podSelector"] == picker
    to_pods, to_api = outbound["egress"]
    assert to_pods["to"] == [{"podSelector": server_pods}]
    assert to_pods["ports"] == [{"port": SERVER_PORT_NAME, "protocol": "TCP"}]
    assert {p["port"] for p in to_api["ports"]} == {443, 6443}

    scrape = _policy(run, "allow-endpoint-picker-scrape")
    assert scrape["podSelector"] == server_pods
    assert scrape["ingress"][0]["from"] == [{"podSelector": picker}]


def test_endpoint_picker_facts_match_the_rendered_chart() -> None:
    """The policies above select what the chart renders: same labels, same ports."""
    config = stack_model("prod").model_copy(
        update={"routing": RoutingConfig(mode="inferencePool"), "ingress": IngressConfig()}
    )
    docs = [d for t in render_stack(config).values() for d in yaml.safe_load_all(t) if d]
    (epp,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-epp")
    ]
    pod = epp["spec"]["template"]
    assert endpoint_picker_labels(config.release_name).items() <= pod["metadata"]["labels"].items()
    container_ports = {p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert set(endpoint_picker_ports().values()) == container_ports
