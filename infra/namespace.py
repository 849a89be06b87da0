"""The server's namespace and its guard rails: Pod Security, quota, defaults, network.

- Pod Security `restricted` is enforced: a pod the chart renders wrongly is rejected at
  admission instead of running with more privilege than it needs.
- The ResourceQuota caps GPUs, CPU, memory, pods and PVC storage; config rules already
  checked that it holds the stack's largest rollout.
- The LimitRange gives containers without requests some, so the quota (which needs
  requests) still admits them. It sets no CPU limit default: CFS throttling of the
  server's scheduler thread shows up as token latency.
- NetworkPolicies deny everything, then allow: ingress to the server port from the
  ingress-controller and monitoring namespaces, DNS to the cluster DNS namespace, and
  HTTPS to the model hub CIDRs (from the server pods, or only from the model cache
  prefill Job's pod when it fills the cache); and the chart's `helm test` pod to the
  server port (without it default-deny makes every `helm test` fail). With routing.mode
  inferencePool: the gateway namespaces to the endpoint picker's ext-proc port, the
  picker to the server port (it scrapes /metrics) and to the Kubernetes API, and
  Prometheus to the picker's metrics. With parallelism.nodes > 1: the release's server
  pods to each other on TCP (MPI and NCCL between a group's ranks). Nothing else.
- With spot capacity, the spot pods' PriorityClass: cluster-scoped, so the program makes
  it (one per namespace, for every release in it) rather than the chart. It sits below
  the default priority and never preempts: a pending spot pod evicts nothing and other
  workloads win a contested spot node. Pod Security admission ignores priority classes
  and the quota has no priority scope, so it counts spot pods like the floor's (the
  config rules size it for floor + spot burst + surge).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.chart import (
    SERVER_PORT_NAME,
    endpoint_picker_labels,
    endpoint_picker_ports,
    helm_test_pod_labels,
    prefill_pod_labels,
    selector_labels,
)
from infra.component import ComponentOpts
from infra.config import StackConfig
from infra.config.models import releases
from infra.config.schema import LimitRangeConfig
from infra.config.spot import SPOT_PRIORITY_VALUE
from infra.values import spot_priority_class_name

# enforce is pinned to the oldest Kubernetes the chart supports, so a cluster upgrade
# never starts rejecting pods; audit and warn follow the newest rules, so what a future
# pin would reject shows up in events and kubectl warnings first.
POD_SECURITY_ENFORCE_VERSION = "v1.29"

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def pod_security_labels(level: str, enforce_version: str) -> dict[str, str]:
    """Pod Security Admission labels: enforce at a pinned version, audit and warn latest."""
    prefix = "pod-security.kubernetes.io"
    return {
        f"{prefix}/enforce": level,
        f"{prefix}/enforce-version": enforce_version,
        f"{prefix}/audit": level,
        f"{prefix}/audit-version": "latest",
        f"{prefix}/warn": level,
        f"{prefix}/warn-version": "latest",
    }


def quota_hard(config: StackConfig) -> dict[str, str]:
    q = config.quota
    return {
        "requests.cpu": q.cpu,
        "requests.memory": q.memory,
        "requests.storage": q.storage,
        "pods": str(q.pods),
        # Extended resources can only be limited through requests.<name>.
        f"requests.{config.gpu.resource_name}": str(q.gpus),
    }


def _namespaces_selector(names: list[str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(
                key=NAMESPACE_NAME_LABEL, operator="In", values=sorted(names)
            )
        ]
    )


net = k8s.networking.v1
Pods = k8s.meta.v1.LabelSelectorArgs
Spec = net.NetworkPolicySpecArgs
Peer = net.NetworkPolicyPeerArgs
Port = net.NetworkPolicyPortArgs


def _allow_ingress(
    pods: k8s.meta.v1.LabelSelectorArgs, peers: list[Peer], ports: list[Port]
) -> Spec:
    """Let `peers` reach `pods` on `ports`."""
    rule = net.NetworkPolicyIngressRuleArgs(from_=peers, ports=ports)
    return Spec(pod_selector=pods, policy_types=["Ingress"], ingress=[rule])


def _allow_egress(
    pods: k8s.meta.v1.LabelSelectorArgs, peers: list[Peer], ports: list[Port]
) -> Spec:
    """Let `pods` reach `peers` on `ports`."""
    rule = net.NetworkPolicyEgressRuleArgs(to=peers, ports=ports)
    return Spec(pod_selector=pods, policy_types=["Egress"], egress=[rule])


INSTANCE_LABEL = "app.kubernetes.io/instance"


def release_pods(labels: Callable[[str], dict[str, str]], names: list[str]) -> Pods:
    """The pods `labels(release)` selects, in any of the stack's releases `names`.

    With several releases the instance label goes: the namespace is the stack's own,
    and a selector that lists no release names stays the same when a model version
    comes or goes, so such a change previews as the releases and the route alone.
    """
    if len(names) == 1:
        return Pods(match_labels=labels(names[0]))
    return Pods(match_labels={k: v for k, v in labels(names[0]).items() if k != INSTANCE_LABEL})


def network_policy_specs(config: StackConfig) -> dict[str, Spec]:
    """The namespace's NetworkPolicies by name, shared by the stack's releases; pods
    match the chart's selector labels."""
    policy = config.network_policy
    stack_releases = [r.config for r in releases(config)]
    names = [r.release_name for r in stack_releases]
    server_pods = release_pods(selector_labels, names)
    all_pods = k8s.meta.v1.LabelSelectorArgs()
    # `helm test` calls the server from a pod in the same namespace: both directions
    # need a rule under default-deny, each selecting only the other side's labels.
    test_pods = release_pods(helm_test_pod_labels, names)
    server_port = [Port(port=SERVER_PORT_NAME, protocol="TCP")]
    # With prefill only the prefill Jobs download; the server pods start offline (every
    # release prefills or none does: a config rule).
    prefill = any(r.model_cache_prefill for r in stack_releases)
    downloaders = release_pods(prefill_pod_labels, names) if prefill else server_pods
    hub = [Peer(ip_block=net.IPBlockArgs(cidr=cidr)) for cidr in policy.model_hub_cidrs]
    https = [Port(port=443, protocol="TCP")]
    specs = {
        "default-deny": Spec(pod_selector=all_pods, policy_types=["Ingress", "Egress"]),
        "allow-dns-egress": _allow_egress(
            all_pods,
            [Peer(namespace_selector=_namespaces_selector([policy.dns_namespace]))],
            [Port(port=53, protocol="UDP"), Port(port=53, protocol="TCP")],
        ),
        "allow-model-hub-egress": _allow_egress(downloaders, hub, https),
        "allow-helm-test-ingress": _allow_ingress(
            server_pods, [Peer(pod_selector=test_pods)], server_port
        ),
        "allow-helm-test-egress": _allow_egress(
            test_pods, [Peer(pod_selector=server_pods)], server_port
        ),
    }
    sources = {
        "allow-ingress-controllers": policy.ingress_namespaces,
        "allow-monitoring": policy.monitoring_namespaces if config.monitoring.enabled else [],
    }
    for policy_name, namespaces in sources.items():
        if namespaces:
            peers = [Peer(namespace_selector=_namespaces_selector(namespaces))]
            specs[policy_name] = _allow_ingress(server_pods, peers, server_port)
    if config.routing.mode == "inferencePool":
        specs.update(_endpoint_picker_policies(config, names, server_pods, server_port))
    if any(r.multi_node for r in stack_releases):
        specs["allow-group-ranks"] = _group_ranks_policy(server_pods)
    return specs


def _group_ranks_policy(server_pods: Pods) -> Spec:
    """parallelism.nodes > 1: the server pods (leaders and workers of the release's groups)
    reach each other on any TCP port, and nothing else gains anything.

    mpirun reaches the workers' sshd, its daemons call back on ephemeral ports, and NCCL's
    socket transport listens on ephemeral ports too, so no port list can be written. A
    policy cannot name one group either: its key label is a hash LWS assigns per group.
    """
    peers = [Peer(pod_selector=server_pods)]
    return Spec(
        pod_selector=server_pods,
        policy_types=["Ingress", "Egress"],
        ingress=[net.NetworkPolicyIngressRuleArgs(from_=peers, ports=[Port(protocol="TCP")])],
        egress=[net.NetworkPolicyEgressRuleArgs(to=peers, ports=[Port(protocol="TCP")])],
    )


# The Kubernetes API server is outside any pod selector; its port differs by distribution.
_KUBE_API_PORTS = (443, 6443)


def _endpoint_picker_policies(
    config: StackConfig, names: list[str], server_pods: Pods, server_port: list[Port]
) -> dict[str, Spec]:
    """routing.mode inferencePool: the gateway asks the picker, the picker reads the pods.

    The gateway's own traffic to the pods comes in through allow-ingress-controllers
    (the gateway runs in one of networkPolicy.ingressNamespaces).
    """
    policy = config.network_policy
    picker = release_pods(endpoint_picker_labels, names)
    ports = endpoint_picker_ports()

    def from_namespaces(names: list[str]) -> list[Peer]:
        return [Peer(namespace_selector=_namespaces_selector(names))]

    inbound = _allow_ingress(
        picker,
        from_namespaces(policy.ingress_namespaces),
        [Port(port=ports["extProc"], protocol="TCP")],
    )
    if config.monitoring.enabled and policy.monitoring_namespaces:
        inbound.ingress.append(
            net.NetworkPolicyIngressRuleArgs(
                from_=from_namespaces(policy.monitoring_namespaces),
                ports=[Port(port=ports["metrics"], protocol="TCP")],
            )
        )
    # Scrape each pod's /metrics (queue, running, KV cache) on the server port; watch
    # the InferencePool and its pods through the API.
    outbound = _allow_egress(picker, [Peer(pod_selector=server_pods)], server_port)
    outbound.egress.append(
        net.NetworkPolicyEgressRuleArgs(
            ports=[Port(port=port, protocol="TCP") for port in _KUBE_API_PORTS]
        )
    )
    return {
        "allow-endpoint-picker-ingress": inbound,
        "allow-endpoint-picker-egress": outbound,
        "allow-endpoint-picker-scrape": _allow_ingress(
            server_pods, [Peer(pod_selector=picker)], server_port
        ),
    }


@dataclass(frozen=True)
class ServerNamespaceArgs:
    name: str
    quota_hard: dict[str, str] | None  # None: no ResourceQuota
    container_defaults: LimitRangeConfig
    network_policies: dict[str, Spec]  # by object name
    spot_priority_class: str | None = None  # None: no spot pods

    @classmethod
    def for_stack(cls, config: StackConfig) -> ServerNamespaceArgs:
        return cls(
            name=config.namespace,
            quota_hard=quota_hard(config) if config.quota.enabled else None,
            container_defaults=config.limit_range,
            network_policies=network_policy_specs(config) if config.network_policy.enabled else {},
            spot_priority_class=(
                spot_priority_class_name(config)
                if any(r.config.spot.enabled for r in releases(config))
                else None
            ),
        )


class ServerNamespace(pulumi.ComponentResource):
    """The namespace the server runs in, with its admission and network guard rails."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: ServerNamespaceArgs, opts: ComponentOpts = None) -> None:
        super().__init__("tensorrt-llm:index:ServerNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                labels=pod_security_labels("restricted", POD_SECURITY_ENFORCE_VERSION),
            ),
            opts=child,
        )
        self.name = namespace.metadata.apply(lambda meta: meta.name)

        def metadata(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self.name)

        if args.quota_hard is not None:
            k8s.core.v1.ResourceQuota(
                f"{name}-quota",
                metadata=metadata("server-quota"),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=args.quota_hard),
                opts=child,
            )
        defaults = args.container_defaults
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=metadata("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={
                            "cpu": defaults.default_cpu_request,
                            "memory": defaults.default_memory_request,
                        },
                        default={"memory": defaults.default_memory_limit},
                    )
                ]
            ),
            opts=child,
        )
        for policy_name, spec in args.network_policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}", metadata=metadata(policy_name), spec=spec, opts=child
            )
        if args.spot_priority_class is not None:
            k8s.scheduling.v1.PriorityClass(
                f"{name}-spot-priority",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.spot_priority_class),
                value=SPOT_PRIORITY_VALUE,
                preemption_policy="Never",
                global_default=False,
                description="Spot server pods: below the default priority, never preempting.",
                opts=child,
            )
        self.register_outputs({"name": self.name})
