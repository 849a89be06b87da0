"""Spot / preemptible GPU nodes: how each cloud marks them, in one table.

A spot pod needs one of its provider's labels (and tolerates its taints); a floor pod
needs none of them. The labels are what each platform puts on its nodes itself:

- GKE: `cloud.google.com/gke-spot=true` on Spot VM node pools and
  `cloud.google.com/gke-preemptible=true` on the older preemptible ones. Standard node
  pools carry no taint unless you add one; GKE's docs recommend
  `cloud.google.com/gke-spot=true:NoSchedule` (Autopilot adds it), so it is tolerated.
  Preemption notice: 30 s, of which non-system pods get the first 15 s by default
  (docs.cloud.google.com/kubernetes-engine/docs/concepts/spot-vms).
- EKS managed node groups: `eks.amazonaws.com/capacityType=SPOT`, no taint; EKS drains
  the node on the rebalance recommendation or the two-minute interruption notice
  (docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html).
- Karpenter: `karpenter.sh/capacity-type=spot`, no taint unless the NodePool sets one;
  Karpenter's interruption queue cordons and drains on the two-minute notice
  (karpenter.sh docs, concepts/scheduling and concepts/disruption).
- AKS: `kubernetes.azure.com/scalesetpriority=spot` with the taint
  `kubernetes.azure.com/scalesetpriority=spot:NoSchedule` added to every spot node;
  eviction comes with a 30 s Scheduled Events notice, on which AKS node auto-drain
  cordons and drains (learn.microsoft.com/azure/aks/spot-node-pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Below the default priority (0), so other workloads win over spot pods, and above the
# cluster autoscaler's --expendable-pods-priority-cutoff (default -10): pods below it
# never make the autoscaler add a node, and spot nodes are usually autoscaled.
SPOT_PRIORITY_VALUE = -1


@dataclass(frozen=True)
class SpotConvention:
    """How one platform labels and taints its spot nodes."""

    platform: str
    labels: tuple[tuple[str, str], ...]  # any one marks a spot node
    taints: tuple[tuple[str, str], ...]  # NoSchedule taints (key, value) spot pods tolerate
    notice_seconds: int  # preemption notice before the VM goes away
    drained_by: str

    def node_labels(self) -> list[dict[str, str]]:
        return [{"key": key, "value": value} for key, value in self.labels]

    def tolerations(self) -> list[dict[str, Any]]:
        return [
            {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
            for key, value in self.taints
        ]


_GKE_LABELS = (("cloud.google.com/gke-spot", "true"), ("cloud.google.com/gke-preemptible", "true"))
_AKS_LABELS = (("kubernetes.azure.com/scalesetpriority", "spot"),)

# provider -> (platform, spot labels, tolerated taints, notice seconds, who drains)
SPOT_CONVENTIONS: dict[str, SpotConvention] = {
    name: SpotConvention(*row)
    for name, row in {
        "gke": (
            "GKE (Spot and preemptible VMs)",
            _GKE_LABELS,
            _GKE_LABELS,
            30,
            "kubelet graceful node shutdown (15 s for non-system pods by default)",
        ),
        "eks": (
            "EKS managed node groups",
            (("eks.amazonaws.com/capacityType", "SPOT"),),
            (),
            120,
            "EKS, on the rebalance recommendation or the interruption notice",
        ),
        "karpenter": (
            "Karpenter (EKS Auto Mode, AKS node auto-provisioning)",
            (("karpenter.sh/capacity-type", "spot"),),
            (),
            120,
            "Karpenter's interruption handling (its interruption queue on AWS)",
        ),
        "aks": (
            "AKS spot node pools",
            _AKS_LABELS,
            _AKS_LABELS,
            30,
            "AKS node auto-drain on the Preempt scheduled event",
        ),
    }.items()
}
