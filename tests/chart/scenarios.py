"""The values sets every chart test renders: one per deployment shape users run."""

from __future__ import annotations

from infra.config.spot import SPOT_CONVENTIONS
from infra.values import (
    INFERENCE_POOL_APIS,
    LEADER_WORKER_SET_API,
    SCALED_OBJECT_API,
    SERVICE_MONITOR_API,
    VOLUME_SNAPSHOT_API,
)
from tests.chart.rendering import Scenario

DIGEST = "sha256:" + "ab" * 32
_PREFILL = {
    "image": {"digest": DIGEST},
    "model": {"path": "nvidia/Llama-3.1-8B-Instruct-FP8", "revision": "0" * 40},
    "secrets": {"hfToken": {"name": "hf-token"}},
    "modelCache": {"prefill": True},
}

GKE_SPOT = SPOT_CONVENTIONS["gke"]
SPOT = {
    "enabled": True,
    "onDemandReplicas": 2,
    "nodeLabels": GKE_SPOT.node_labels(),
    "tolerations": GKE_SPOT.tolerations(),
    "priorityClassName": "inference-spot",
}

SCENARIOS: dict[str, Scenario] = {
    "defaults": Scenario(values={}, why="chart defaults: one GPU, TensorRT-LLM, PVC cache"),
    "gpu-tp2": Scenario(
        values={
            "tensorParallelSize": 2,
            "replicaCount": 2,
            "image": {"digest": DIGEST},
            "imagePullSecrets": [{"name": "registry-credentials"}],
            "model": {"path": "meta-llama/Llama-3.1-8B-Instruct", "servedModelName": "llama-8b"},
            "server": {
                "maxBatchSize": 128,
                "maxNumTokens": 1000000,
                "maxSeqLen": 131072,
                "kvCacheFreeGpuMemoryFraction": 0.85,
                "engineOptions": {"enable_chunked_prefill": True},
                "engineStallSeconds": 600,
                "maxConcurrentRequests": 128,
                "maxQueuedRequests": 512,
                "logLevel": "debug",
            },
            "requestDefaults": {"maxTokens": 512, "temperature": 0.7, "topP": 0.95},
            "secrets": {"hfToken": {"name": "hf-token"}, "apiKeys": {"name": "api-keys"}},
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "tolerations": [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "nvidia.com/gpu.count",
                                        "operator": "Gt",
                                        "values": ["1"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
            "podAntiAffinity": {"type": "hard"},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                }
            ],
            "modelCache": {"accessMode": "ReadWriteMany", "storageClass": "fast-rwx"},
            "shm": {"sizeLimit": "16Gi"},
            "priorityClassName": "llm-serving",
        },
        why="two-GPU tensor parallelism with every placement knob at once",
    ),
    "gpu-less-simulated": Scenario(
        values={
            "engine": "simulated",
            "gpu": {"enabled": False},
            "model": {"path": ""},
            "modelCache": {"type": "emptyDir", "size": "1Gi"},
            "resources": {
                "requests": {"cpu": "250m", "memory": "256Mi"},
                "limits": {"memory": "512Mi"},
            },
            "shm": {"sizeLimit": "64Mi"},
            "simulated": {"ttftMs": 80, "itlMs": 12.5, "maxBatch": 32, "loadSeconds": 3},
            "server": {"logFormat": "text"},
        },
        why="CPU-only cluster running the simulated engine",
    ),
    "autoscaling": Scenario(
        values={
            "autoscaling": {
                "enabled": True,
                "minReplicas": 2,
                "maxReplicas": 6,
                "targetRequestsWaiting": 2.5,
                "cpuFallback": {"enabled": True},
            },
            "modelCache": {"accessMode": "ReadWriteMany"},
        },
        why="HPA on the queue-depth metric with the CPU fallback",
    ),
    "monitoring": Scenario(
        values={
            "monitoring": {
                "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                "dashboard": {"enabled": True},
            }
        },
        api_versions=(SERVICE_MONITOR_API,),
        why="Prometheus Operator installed",
    ),
    "monitoring-without-crd": Scenario(
        values={
            "monitoring": {"serviceMonitor": {"enabled": True}, "dashboard": {"enabled": True}}
        },
        why="ServiceMonitor asked for on a cluster without the CRD",
    ),
    "model-cache-snapshot": Scenario(
        values={
            "modelCache": {
                "snapshot": {"name": "model-cache-v1", "className": "csi-snapclass"},
            }
        },
        api_versions=(VOLUME_SNAPSHOT_API,),
        why="a warm cache snapshotted where the CSI snapshot CRDs are installed",
    ),
    "model-cache-restored": Scenario(
        values={"modelCache": {"snapshot": {"restoreFrom": "model-cache-v1"}}},
        why="a new cluster's cache created from a snapshot",
    ),
    "existing-pvc": Scenario(
        values={"replicaCount": 3, "modelCache": {"existingClaim": "shared-models"}},
        why="a pre-provisioned (e.g. ReadWriteMany NFS) claim shared by three replicas",
    ),
    "ingress": Scenario(
        values={
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-buffering": "off"},
                "hosts": [
                    {"host": "llm.example.com", "paths": [{"path": "/v1", "pathType": "Prefix"}]}
                ],
                "tls": [{"secretName": "llm-tls", "hosts": ["llm.example.com"]}],
            }
        },
        why="public endpoint behind an ingress controller with TLS",
    ),
    "keda": Scenario(
        values={
            "autoscaling": {
                "enabled": True,
                "mode": "keda",
                "minReplicas": 1,
                "maxReplicas": 8,
                "keda": {"fallbackReplicas": 2},
            },
            "modelCache": {"accessMode": "ReadWriteMany"},
        },
        api_versions=(SCALED_OBJECT_API,),
        why="KEDA ScaledObject on the queue gauge through the Prometheus scaler",
    ),
    "spot-burst": Scenario(
        values={
            "spot": SPOT,
            "autoscaling": {"enabled": True, "mode": "keda", "minReplicas": 2, "maxReplicas": 6},
            "modelCache": {"accessMode": "ReadWriteMany"},
        },
        api_versions=(SCALED_OBJECT_API,),
        why="two on-demand pods plus up to four KEDA-scaled pods on GKE Spot VMs",
    ),
    "inference-pool": Scenario(
        values={
            "routing": {
                "mode": "inferencePool",
                "inferencePool": {
                    "gateway": {"name": "shared-gateway", "namespace": "gateways"},
                    "hostnames": ["llm.example.com"],
                },
            },
            "monitoring": {"serviceMonitor": {"enabled": True}},
        },
        api_versions=(*INFERENCE_POOL_APIS, SERVICE_MONITOR_API),
        why="Gateway API Inference Extension: InferencePool, endpoint picker, HTTPRoute",
    ),
    "scale-to-zero": Scenario(
        values={
            "engine": "simulated",
            "gpu": {"enabled": False},
            "modelCache": {"type": "emptyDir", "size": "1Gi"},
            "autoscaling": {"enabled": True, "mode": "keda", "minReplicas": 0, "maxReplicas": 2},
            "routing": {
                "mode": "inferencePool",
                "inferencePool": {"endpointPicker": {"flowControl": {"enabled": True}}},
            },
            "monitoring": {"serviceMonitor": {"enabled": True}},
        },
        api_versions=(SCALED_OBJECT_API, *INFERENCE_POOL_APIS, SERVICE_MONITOR_API),
        why="non-production pool scaled to zero, woken by the endpoint picker's held queue",
    ),
    "kube-1.29": Scenario(
        values={}, kube_version="v1.29.0", why="oldest supported cluster (no sleep action)"
    ),
    "no-cache": Scenario(
        values={"modelCache": {"enabled": False}, "tests": {"enabled": False}},
        why="model cache and helm test both off",
    ),
    "model-cache-prefill": Scenario(
        values=_PREFILL, why="the release of a prefilled cache: no claim, pods offline"
    ),
    "model-cache-prefill-job": Scenario(
        values={**_PREFILL, "modelCache": {"prefill": True, "prefillJob": {"render": True}}},
        why="what the program applies before that release: the claim and the prefill Job",
    ),
    "model-cache-quantize-jobs": Scenario(
        values={
            **_PREFILL,
            "model": {"path": "meta-llama/Llama-3.1-8B-Instruct", "revision": "0" * 40},
            "modelCache": {
                "prefill": True,
                "quantize": True,
                "quantizeJob": {"quantization": "fp8"},
                "prefillJob": {"render": True},
            },
        },
        why="a plain checkpoint quantized in the cache: the claim, the prefill and quantize Jobs",
    ),
    "multi-node": Scenario(
        values={
            **_PREFILL,
            "tensorParallelSize": 8,
            "parallelism": {"pipeline": 2, "nodes": 2, "exclusiveTopology": "example.com/rack"},
            "modelCache": {"prefill": True, "accessMode": "ReadWriteMany"},
            "autoscaling": {"enabled": True, "mode": "keda", "minReplicas": 2, "maxReplicas": 3},
        },
        api_versions=(LEADER_WORKER_SET_API, SCALED_OBJECT_API),
        why="an instance over two 8-GPU nodes (TP 8 x PP 2) as LeaderWorkerSet groups",
    ),
}
