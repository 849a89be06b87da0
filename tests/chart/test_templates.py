"""What each scenario renders: every optional feature checked both on and off."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.chart import CHART_DIR, chart_default, render_chart
from infra.values import SERVICE_MONITOR_API, VOLUME_SNAPSHOT_API
from tests.chart.rendering import Rendered, env_of, render, server_container
from tests.chart.scenarios import DIGEST

GPU = "nvidia.com/gpu"
APP_VERSION = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
OPTIONAL_KINDS = {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "ServiceMonitor"}


def pod_spec(result: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = result.one("Deployment")["spec"]["template"]["spec"]
    return spec


def volumes(result: Rendered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(result)["volumes"]}


def mounts(result: Rendered) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in server_container(result)["volumeMounts"]}


# ------------------------------------------------------------------ defaults


def test_defaults_render_the_core_objects_only(rendered: dict[str, Rendered]) -> None:
    kinds = rendered["defaults"].kinds()
    assert kinds == sorted(
        ["Deployment", "Service", "ServiceAccount", "PersistentVolumeClaim", "Pod"]
    )
    assert not OPTIONAL_KINDS & set(kinds)


def test_defaults_request_one_gpu_and_tolerate_the_gpu_taint(
    rendered: dict[str, Rendered],
) -> None:
    container = server_container(rendered["defaults"])
    assert container["resources"]["limits"][GPU] == 1
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod_spec(
        rendered["defaults"]
    )["tolerations"]
    assert env_of(container)["ENGINE"] == "tensorrt-llm"


def test_server_is_locked_down(rendered: dict[str, Rendered]) -> None:
    spec = pod_spec(rendered["defaults"])
    container = server_container(rendered["defaults"])
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == 1000
    assert spec["securityContext"]["fsGroup"] == 1000
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert rendered["defaults"].one("ServiceAccount")["automountServiceAccountToken"] is False


def test_writable_scratch_and_sized_shared_memory(rendered: dict[str, Rendered]) -> None:
    vols = volumes(rendered["defaults"])
    assert mounts(rendered["defaults"])["tmp"] == "/tmp"
    assert mounts(rendered["defaults"])["dshm"] == "/dev/shm"
    assert vols["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert vols["tmp"]["emptyDir"] == {}
    assert volumes(rendered["gpu-tp2"])["dshm"]["emptyDir"]["sizeLimit"] == "16Gi"


def test_model_cache_claim_is_mounted_where_hf_home_points(
    rendered: dict[str, Rendered],
) -> None:
    result = rendered["defaults"]
    claim = result.one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert "storageClassName" not in claim["spec"]  # cluster default class
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volume = volumes(result)["model-cache"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mounts(result)["model-cache"] == "/home/trtllm/.cache"
    env = env_of(server_container(result))
    assert env["HF_HOME"] == "/home/trtllm/.cache/huggingface"
    assert "HOME" not in env  # the image's HOME, whose ~/.cache is this volume


def test_probes_target_the_health_routes(rendered: dict[str, Rendered]) -> None:
    container = server_container(rendered["defaults"])
    assert container["startupProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    startup = container["startupProbe"]
    # Patient enough for a large download + engine build: half an hour by default.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800


def test_shutdown_drains_before_sigkill(rendered: dict[str, Rendered]) -> None:
    spec = pod_spec(rendered["defaults"])
    container = server_container(rendered["defaults"])
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(env_of(container)["DRAIN_TIMEOUT_SECONDS"])
    assert spec["terminationGracePeriodSeconds"] > sleep + drain


def test_kubernetes_1_29_gets_an_exec_pre_stop(rendered: dict[str, Rendered]) -> None:
    # The sleep action is alpha (off) in 1.29: an API server would drop it.
    pre_stop = server_container(rendered["kube-1.29"])["lifecycle"]["preStop"]
    assert "sleep" not in pre_stop
    assert pre_stop["exec"]["command"][:2] == ["python", "-c"]
    assert "time.sleep(10)" in pre_stop["exec"]["command"][2]


def test_no_pre_stop_when_sleep_is_zero() -> None:
    container = server_container(render({"preStopSleepSeconds": 0}))
    assert "lifecycle" not in container


def test_image_by_tag_by_default_and_by_digest_when_given(
    rendered: dict[str, Rendered],
) -> None:
    by_tag = server_container(rendered["defaults"])
    assert by_tag["image"] == f"ghcr.io/example/tensorrt-llm-server:{APP_VERSION}"
    assert by_tag["imagePullPolicy"] == "Always"
    by_digest = server_container(rendered["gpu-tp2"])
    assert by_digest["image"] == f"ghcr.io/example/tensorrt-llm-server@{DIGEST}"
    assert by_digest["imagePullPolicy"] == "IfNotPresent"
    explicit = server_container(render({"image": {"tag": "v2", "pullPolicy": "IfNotPresent"}}))
    assert (explicit["image"].rsplit(":", 1)[1], explicit["imagePullPolicy"]) == (
        "v2",
        "IfNotPresent",
    )


def test_service_is_cluster_ip_with_a_named_port(rendered: dict[str, Rendered]) -> None:
    service = rendered["defaults"].one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]


def test_selectors_are_minimal_and_match_the_pods(rendered: dict[str, Rendered]) -> None:
    result = rendered["defaults"]
    deployment = result.one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    assert result.one("Service")["spec"]["selector"] == selector
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/version"] == APP_VERSION


def test_test_pod_is_a_hook_nobody_selects(rendered: dict[str, Rendered]) -> None:
    result = rendered["defaults"]
    pod = result.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    selector = result.one("Service")["spec"]["selector"]
    assert not selector.items() <= pod["metadata"]["labels"].items()
    script = pod["spec"]["containers"][0]["command"][2]
    assert "http://llm-tensorrt-llm.inference.svc:8000/health/ready" in script
    assert pod["spec"]["containers"][0]["image"] == server_container(result)["image"]
    assert rendered["no-cache"].of_kind("Pod") == []


# ------------------------------------------------------------- GPU, TP = 2


def test_tensor_parallel_size_sets_gpu_count_and_env(rendered: dict[str, Rendered]) -> None:
    container = server_container(rendered["gpu-tp2"])
    assert container["resources"]["limits"][GPU] == 2
    assert env_of(container)["TENSOR_PARALLEL_SIZE"] == "2"
    # The user's own resources survive the GPU merge; memory is sized for two ranks
    # and the scenario's 16Gi /dev/shm.
    assert container["resources"]["requests"] == {"cpu": "4", "memory": "64Gi"}


@pytest.mark.parametrize(
    ("values", "memory"),
    [
        ({}, "32Gi"),  # 1 x 24 + 8 (shm)
        ({"tensorParallelSize": 4}, "104Gi"),  # 4 x 24 + 8
        ({"tensorParallelSize": 2, "shm": {"sizeLimit": "16Gi"}}, "64Gi"),
        ({"tensorParallelSize": 2, "memoryPerRankGi": 40, "shm": {"sizeLimit": "512Mi"}}, "81Gi"),
    ],
)
def test_memory_is_sized_by_rank_count_and_shared_memory(
    values: dict[str, Any], memory: str
) -> None:
    resources = server_container(render(values))["resources"]
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == (memory, memory)


def test_memory_set_in_resources_wins_over_the_sizing() -> None:
    values = {
        "tensorParallelSize": 4,
        "resources": {"requests": {"memory": "100Gi"}, "limits": {"memory": "120Gi"}},
    }
    resources = server_container(render(values))["resources"]
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == ("100Gi", "120Gi")


def test_memory_sizing_needs_shm_in_binary_units() -> None:
    with pytest.raises(Exception, match=r"shm\.sizeLimit: 8G must be in Gi or Mi"):
        render({"shm": {"sizeLimit": "8G"}})


def test_gpu_placement_and_anti_affinity_coexist(rendered: dict[str, Rendered]) -> None:
    spec = pod_spec(rendered["gpu-tp2"])
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    node_terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert (
        node_terms["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "nvidia.com/gpu.count"
    )
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti == [
        {
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "tensorrt-llm",
                    "app.kubernetes.io/instance": "llm",
                }
            },
        }
    ]
    tolerations = spec["tolerations"]
    assert {"key": "dedicated", "value": "llm", "effect": "NoSchedule"} in tolerations
    assert any(t.get("key") == GPU for t in tolerations)
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == anti[0]["labelSelector"]["matchLabels"]
    assert spec["priorityClassName"] == "llm-serving"


def test_users_own_anti_affinity_terms_are_kept() -> None:
    own = {"weight": 10, "podAffinityTerm": {"topologyKey": "zone", "labelSelector": {}}}
    values = {
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [own]}}
    }
    terms = pod_spec(render(values))["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms[0] == own
    assert terms[1]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_anti_affinity_off_leaves_affinity_as_given() -> None:
    node_affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    spec = pod_spec(render({"podAntiAffinity": {"enabled": False}, "affinity": node_affinity}))
    assert spec["affinity"] == node_affinity
    assert "affinity" not in pod_spec(render({"podAntiAffinity": {"enabled": False}}))


def test_secrets_come_from_existing_secrets_by_reference(rendered: dict[str, Rendered]) -> None:
    env = env_of(server_container(rendered["gpu-tp2"]))
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}
    assert env["API_KEYS"] == {"secretKeyRef": {"name": "api-keys", "key": "API_KEYS"}}
    defaults = env_of(server_container(rendered["defaults"]))
    assert "HF_TOKEN" not in defaults and "API_KEYS" not in defaults
    assert "API_KEYS" not in rendered["gpu-tp2"].notes
    assert "WARNING: secrets.apiKeys.name is empty" in rendered["defaults"].notes


def test_pull_secrets_and_storage_class(rendered: dict[str, Rendered]) -> None:
    result = rendered["gpu-tp2"]
    assert pod_spec(result)["imagePullSecrets"] == [{"name": "registry-credentials"}]
    claim = result.one("PersistentVolumeClaim")["spec"]
    assert (claim["storageClassName"], claim["accessModes"]) == ("fast-rwx", ["ReadWriteMany"])
    no_class = render({"modelCache": {"storageClass": "-"}}).one("PersistentVolumeClaim")
    assert no_class["spec"]["storageClassName"] == ""


# ------------------------------------------------------ GPU-less, simulated


def test_gpu_less_mode_asks_for_no_gpu(rendered: dict[str, Rendered]) -> None:
    result = rendered["gpu-less-simulated"]
    container = server_container(result)
    assert GPU not in container["resources"].get("limits", {})
    assert "tolerations" not in pod_spec(result)
    env = env_of(container)
    assert env["ENGINE"] == "simulated"
    assert "MODEL_PATH" not in env
    assert (env["SIMULATED_TTFT_MS"], env["SIMULATED_ITL_MS"]) == ("80", "12.5")
    assert env["SIMULATED_LOAD_SECONDS"] == "3"


def test_empty_dir_cache_when_asked(rendered: dict[str, Rendered]) -> None:
    result = rendered["gpu-less-simulated"]
    assert result.of_kind("PersistentVolumeClaim") == []
    assert volumes(result)["model-cache"] == {
        "name": "model-cache",
        "emptyDir": {"sizeLimit": "1Gi"},
    }


def test_no_cache_still_gives_caches_a_writable_scratch_volume(
    rendered: dict[str, Rendered],
) -> None:
    result = rendered["no-cache"]
    assert "model-cache" not in volumes(result)
    assert result.of_kind("PersistentVolumeClaim") == []
    assert volumes(result)["cache-scratch"] == {"name": "cache-scratch", "emptyDir": {}}
    assert mounts(result)["cache-scratch"] == "/home/trtllm/.cache"
    env = env_of(server_container(result))
    assert "HOME" not in env
    assert env["HF_HOME"] == "/home/trtllm/.cache/huggingface"


# ------------------------------------------------------- Helm's wait threshold


def helm_ready_threshold(deployment: dict[str, Any]) -> int:
    """Ready pods Helm 3 waits for (pkg/kube/ready.go): replicas - maxUnavailable."""
    spec = deployment["spec"]
    replicas = spec.get("replicas", 1)  # the API's default when left out
    return replicas - int(spec["strategy"]["rollingUpdate"]["maxUnavailable"])


@pytest.mark.parametrize(
    "values",
    [
        {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}},
        {"replicaCount": 3},
        {"replicaCount": 1},
    ],
    ids=["autoscaling", "fixed-3", "fixed-1"],
)
def test_a_first_install_waits_for_every_replica(values: dict[str, Any]) -> None:
    # A full GPU quota rolls in place: maxSurge 0, maxUnavailable 1.
    values = {
        **values,
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
        "modelCache": {"accessMode": "ReadWriteMany"},
    }
    deployment = render(values).one("Deployment")
    wanted = values.get("replicaCount") or values["autoscaling"]["minReplicas"]
    assert deployment["spec"]["replicas"] == wanted
    assert helm_ready_threshold(deployment) == wanted, "Helm would report success too early"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1


def test_upgrades_roll_with_the_configured_strategy() -> None:
    values = {
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4},
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
        "modelCache": {"accessMode": "ReadWriteMany"},
    }
    files = render_chart(values, release="llm", namespace="inference", upgrade=True)
    deployment = yaml.safe_load(files["tensorrt-llm/templates/deployment.yaml"])
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert helm_ready_threshold(deployment) == 1


# ---------------------------------------------------- autoscaling and PDB


def test_autoscaling_on_queue_depth_with_cpu_fallback(rendered: dict[str, Rendered]) -> None:
    result = rendered["autoscaling"]
    # Offline there is no live Deployment to read the HPA's count from: minReplicas.
    assert result.one("Deployment")["spec"]["replicas"] == 2
    hpa = result.one("HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    pods, cpu = hpa["spec"]["metrics"]
    assert pods["pods"]["target"] == {"type": "AverageValue", "averageValue": "2.5"}
    assert cpu["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert hpa["spec"]["scaleTargetRef"]["name"] == result.one("Deployment")["metadata"]["name"]


def test_cpu_metric_only_as_explicit_fallback() -> None:
    values = {"autoscaling": {"enabled": True}, "modelCache": {"accessMode": "ReadWriteMany"}}
    hpa = render(values).one("HorizontalPodAutoscaler")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Pods"]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("defaults", False), ("gpu-tp2", True), ("autoscaling", True), ("existing-pvc", True)],
)
def test_pdb_only_when_more_than_one_pod(
    rendered: dict[str, Rendered], scenario: str, expected: bool
) -> None:
    pdbs = rendered[scenario].of_kind("PodDisruptionBudget")
    assert bool(pdbs) is expected
    if pdbs:
        assert pdbs[0]["spec"]["maxUnavailable"] == 1
        assert set(pdbs[0]["spec"]["selector"]["matchLabels"]) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
        }


def test_autoscaling_with_one_min_replica_has_no_pdb() -> None:
    values = {"autoscaling": {"enabled": True}, "modelCache": {"accessMode": "ReadWriteMany"}}
    assert render(values).of_kind("PodDisruptionBudget") == []


# ------------------------------------------------------------- monitoring


def test_service_monitor_when_the_crd_exists(rendered: dict[str, Rendered]) -> None:
    monitor = rendered["monitoring"].one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    endpoint = monitor["spec"]["endpoints"][0]
    assert {k: endpoint[k] for k in ("port", "path", "interval")} == {
        "port": "http",
        "path": "/metrics",
        "interval": "30s",
    }
    # Every series names its model; a release without a version gets no version label.
    assert endpoint["relabelings"] == [
        {
            "action": "replace",
            "targetLabel": "model_name",
            "replacement": chart_default("model.path"),
        }
    ]
    assert (
        monitor["spec"]["selector"]["matchLabels"]
        == rendered["monitoring"].one("Service")["spec"]["selector"]
    )


def test_no_service_monitor_without_the_crd(rendered: dict[str, Rendered]) -> None:
    result = rendered["monitoring-without-crd"]
    assert result.of_kind("ServiceMonitor") == []
    assert len(result.of_kind("ConfigMap")) == 1  # the dashboard needs no CRD
    assert "no\nmonitoring.coreos.com/v1 ServiceMonitor API" in result.notes


def test_monitoring_off_renders_neither() -> None:
    result = render({}, api_versions=[SERVICE_MONITOR_API])
    assert result.of_kind("ServiceMonitor") == [] and result.of_kind("ConfigMap") == []


# ------------------------------------------------------ model cache snapshots


def test_a_named_snapshot_of_the_cache_claim_is_kept(rendered: dict[str, Rendered]) -> None:
    result = rendered["model-cache-snapshot"]
    snapshot = result.one("VolumeSnapshot")
    claim = result.one("PersistentVolumeClaim")["metadata"]["name"]
    assert snapshot["metadata"]["name"] == "model-cache-v1"
    assert snapshot["spec"] == {
        "volumeSnapshotClassName": "csi-snapclass",
        "source": {"persistentVolumeClaimName": claim},
    }
    assert snapshot["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_no_snapshot_without_the_crd_and_notes_say_so() -> None:
    result = render({"modelCache": {"snapshot": {"name": "model-cache-v1"}}})
    assert result.of_kind("VolumeSnapshot") == []
    assert "no\nsnapshot.storage.k8s.io/v1 VolumeSnapshot API" in result.notes


def test_no_snapshot_unless_named(rendered: dict[str, Rendered]) -> None:
    assert render({}, api_versions=[VOLUME_SNAPSHOT_API]).of_kind("VolumeSnapshot") == []
    assert "VolumeSnapshot" not in rendered["defaults"].notes


def test_a_restored_claim_is_created_from_the_snapshot(rendered: dict[str, Rendered]) -> None:
    spec = rendered["model-cache-restored"].one("PersistentVolumeClaim")["spec"]
    assert spec["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": "model-cache-v1",
    }
    assert "dataSource" not in rendered["defaults"].one("PersistentVolumeClaim")["spec"]


# --------------------------------------------------------- storage, ingress


def test_existing_claim_is_used_not_created(rendered: dict[str, Rendered]) -> None:
    result = rendered["existing-pvc"]
    assert result.of_kind("PersistentVolumeClaim") == []
    assert volumes(result)["model-cache"]["persistentVolumeClaim"] == {"claimName": "shared-models"}
    assert result.one("Deployment")["spec"]["replicas"] == 3


def test_ingress_routes_to_the_named_port(rendered: dict[str, Rendered]) -> None:
    ingress = rendered["ingress"].one("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "llm-tls", "hosts": ["llm.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "llm.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "llm-tensorrt-llm", "port": {"name": "http"}}
    assert "https://llm.example.com/v1" in rendered["ingress"].notes


# ------------------------------------------------------------------ names


def test_long_release_names_are_truncated_to_63_characters() -> None:
    release = "a-very-long-release-name-for-the-production-inference-service-x"
    result = render({"monitoring": {"dashboard": {"enabled": True}}}, release=release)
    names = [obj["metadata"]["name"] for _, obj in result.objects]
    assert all(len(name) <= 63 and not name.endswith("-") for name in names), names
    assert any(name.endswith("-model-cache") for name in names)
    assert any(name.endswith("-test-health") for name in names)
    assert len(set(names) - {result.one("Deployment")["metadata"]["name"]}) == 3


def test_every_object_lands_in_the_release_namespace(rendered: dict[str, Rendered]) -> None:
    for result in rendered.values():
        for template, obj in result.objects:
            assert obj["metadata"]["namespace"] == "inference", template


# ------------------------------------------------------------- engine options


def test_engine_options_are_a_mounted_json_file_that_rolls_pods() -> None:
    options = {"enable_chunked_prefill": True, "cuda_graph_config": {"max_batch_size": 64}}
    result = render({"server": {"engineOptions": options, "maxSeqLen": 8192}})
    [config_map] = [
        c for c in result.of_kind("ConfigMap") if c["metadata"]["name"].endswith("-engine-options")
    ]
    assert json.loads(config_map["data"]["engine-options.json"]) == options
    container = server_container(result)
    env = env_of(container)
    assert env["ENGINE_OPTIONS_FILE"] == "/etc/tensorrt-llm/engine-options.json"
    assert env["MAX_SEQ_LEN"] == "8192"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "engine-options")
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/tensorrt-llm", True)
    assert volumes(result)["engine-options"]["configMap"]["name"] == config_map["metadata"]["name"]
    annotations = result.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    changed = render({"server": {"engineOptions": {"enable_chunked_prefill": False}}})
    changed_annotations = changed.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/engine-options"] != changed_annotations["checksum/engine-options"]


def test_no_engine_options_no_file() -> None:
    result = render({})
    assert [
        c for c in result.of_kind("ConfigMap") if "engine-options" in c["metadata"]["name"]
    ] == []
    assert "ENGINE_OPTIONS_FILE" not in env_of(server_container(result))
    assert "engine-options" not in volumes(result)
