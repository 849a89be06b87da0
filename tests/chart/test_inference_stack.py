"""The Kubernetes inference stack options, each on and off: KEDA autoscaling and
Gateway API Inference Extension routing (InferencePool + endpoint picker + HTTPRoute)."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
import yaml

from infra.values import INFERENCE_POOL_APIS, SCALED_OBJECT_API
from service.metric_names import REQUESTS_WAITING
from tests.chart.rendering import NAMESPACE, Rendered, render, server_deployment

EPP_KINDS = {"InferencePool", "HTTPRoute", "Role", "RoleBinding", "ConfigMap"}


def _refusal(values: dict[str, Any], api_versions: tuple[str, ...] = ()) -> str:
    with pytest.raises(helm_python.HelmError) as error:
        render(values, api_versions=api_versions)
    return str(error.value)


def _epp_deployment(result: Rendered) -> dict[str, Any]:
    (epp,) = (d for d in result.of_kind("Deployment") if d["metadata"]["name"].endswith("-epp"))
    return epp


# --- autoscaling.mode


def test_hpa_mode_renders_an_hpa_and_no_scaled_object(rendered: dict[str, Rendered]) -> None:
    kinds = rendered["autoscaling"].kinds()
    assert "HorizontalPodAutoscaler" in kinds
    assert "ScaledObject" not in kinds


def test_keda_mode_renders_a_scaled_object_instead_of_an_hpa(
    rendered: dict[str, Rendered],
) -> None:
    result = rendered["keda"]
    assert "HorizontalPodAutoscaler" not in result.kinds()  # KEDA creates and owns it
    scaled = result.one("ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["name"] == server_deployment(result)["metadata"]["name"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 8)
    assert scaled["fallback"] == {"failureThreshold": 3, "replicas": 2}
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 600
    # Offline (no live Deployment) the chart starts at minReplicas; KEDA owns it after.
    assert server_deployment(result)["spec"]["replicas"] == 1
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    # fallback only works with AverageValue: the sum over pods is divided by the replicas.
    assert trigger["metricType"] == "AverageValue"
    query = trigger["metadata"]["query"]
    assert query.startswith(f"sum({REQUESTS_WAITING}{{")
    assert f'namespace="{NAMESPACE}"' in query
    assert "cooldownPeriod" not in scaled  # no scale to zero


def test_keda_mode_without_the_keda_crd_fails_naming_the_value() -> None:
    message = _refusal({"autoscaling": {"enabled": True, "mode": "keda"}, "replicaCount": 1})
    assert "autoscaling.mode: keda needs KEDA's keda.sh/v1alpha1/ScaledObject API" in message


def test_autoscaling_off_renders_neither(rendered: dict[str, Rendered]) -> None:
    kinds = render({}, api_versions=(SCALED_OBJECT_API,)).kinds()
    assert "ScaledObject" not in kinds
    assert "HorizontalPodAutoscaler" not in kinds


def test_scale_to_zero_wakes_on_the_endpoint_pickers_queue(rendered: dict[str, Rendered]) -> None:
    scaled = rendered["scale-to-zero"].one("ScaledObject")["spec"]
    assert scaled["minReplicaCount"] == 0
    assert scaled["cooldownPeriod"] == 900
    queries = [t["metadata"]["query"] for t in scaled["triggers"]]
    assert any(q.startswith(f"sum({REQUESTS_WAITING}{{") for q in queries)
    (wake,) = (t for t in scaled["triggers"] if "flow_control_queue_size" in t["metadata"]["query"])
    assert wake["metadata"]["activationThreshold"] == "0"
    config = yaml.safe_load(rendered["scale-to-zero"].one("ConfigMap")["data"]["config.yaml"])
    assert config["featureGates"] == ["flowControl"]
    assert config["flowControl"]["defaultRequestTTL"] == "600s"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"mode": "hpa"}, "autoscaling.minReplicas: 0 needs autoscaling.mode keda"),
        ({"mode": "keda"}, "autoscaling.minReplicas: 0 needs routing.mode inferencePool"),
    ],
)
def test_scale_to_zero_is_refused_where_nothing_could_wake_the_server(
    values: dict[str, Any], expected: str
) -> None:
    scaling = {"enabled": True, "minReplicas": 0, "maxReplicas": 1, **values}
    message = _refusal({"autoscaling": scaling}, (SCALED_OBJECT_API,))
    assert expected in message


# --- routing.mode


def test_service_routing_renders_no_inference_extension_objects(
    rendered: dict[str, Rendered],
) -> None:
    kinds = set(rendered["defaults"].kinds())
    assert not kinds & EPP_KINDS
    assert len(rendered["defaults"].of_kind("Deployment")) == 1


def test_inference_pool_selects_the_server_pods_on_the_server_port(
    rendered: dict[str, Rendered],
) -> None:
    result = rendered["inference-pool"]
    pool = result.one("InferencePool")["spec"]
    server = server_deployment(result)
    pod_labels = server["spec"]["template"]["metadata"]["labels"]
    assert pool["selector"]["matchLabels"] == server["spec"]["selector"]["matchLabels"]
    assert pool["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {
        p["name"]: p["containerPort"]
        for p in server["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert pool["targetPorts"] == [{"number": ports["http"]}]
    # The EPP reads the trtllm-serve metrics dialect from this label.
    assert pod_labels["inference.networking.k8s.io/engine-type"] == "trtllm-serve"


def test_endpoint_picker_is_reachable_where_the_pool_points(rendered: dict[str, Rendered]) -> None:
    result = rendered["inference-pool"]
    ref = result.one("InferencePool")["spec"]["endpointPickerRef"]
    (service,) = (s for s in result.of_kind("Service") if s["metadata"]["name"] == ref["name"])
    ext_proc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc-ext-proc")
    assert ext_proc["port"] == ref["port"]["number"]
    epp = _epp_deployment(result)
    assert (
        service["spec"]["selector"].items() <= epp["spec"]["template"]["metadata"]["labels"].items()
    )
    assert ref["failureMode"] == "FailOpen"


def test_endpoint_picker_reads_the_trtllm_dialect_from_our_metrics_path(
    rendered: dict[str, Rendered],
) -> None:
    result = rendered["inference-pool"]
    epp = _epp_deployment(result)
    (container,) = epp["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert f"--pool-name={result.one('InferencePool')['metadata']['name']}" in args
    assert f"--pool-namespace={NAMESPACE}" in args
    assert "--config-file=/config/config.yaml" in args
    # Upstream v1.5.0 refuses the deprecated per-metric flags outright.
    assert not [a for a in args if a.startswith("--total-queued-requests-metric")]
    assert container["image"] == "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"
    config = yaml.safe_load(result.one("ConfigMap")["data"]["config.yaml"])
    plugins = {p["type"]: p.get("parameters", {}) for p in config["plugins"]}
    assert plugins["core-metrics-extractor"] == {"defaultEngine": "trtllm-serve"}
    assert plugins["metrics-data-source"]["path"] == "/metrics"
    assert "featureGates" not in config  # flow control is opt-in
    volume = epp["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == result.one("ConfigMap")["metadata"]["name"]


def test_endpoint_picker_may_only_read_its_namespace(rendered: dict[str, Rendered]) -> None:
    result = rendered["inference-pool"]
    rules = result.one("Role")["rules"]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"get", "list", "watch"}
    assert {r for rule in rules for r in rule["resources"]} >= {"pods", "inferencepools"}
    binding = result.one("RoleBinding")
    epp = _epp_deployment(result)
    assert binding["subjects"][0]["name"] == epp["spec"]["template"]["spec"]["serviceAccountName"]
    assert "ClusterRole" not in result.kinds()


def test_http_route_sends_the_gateways_traffic_to_the_pool(rendered: dict[str, Rendered]) -> None:
    result = rendered["inference-pool"]
    route = result.one("HTTPRoute")["spec"]
    assert route["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "shared-gateway",
            "namespace": "gateways",
        }
    ]
    assert route["hostnames"] == ["llm.example.com"]
    (rule,) = route["rules"]
    assert rule["backendRefs"] == [
        {
            "group": "inference.networking.k8s.io",
            "kind": "InferencePool",
            "name": result.one("InferencePool")["metadata"]["name"],
        }
    ]
    assert rule["timeouts"]["request"] == "3600s"  # streams outlive gateway defaults


def test_endpoint_picker_is_scraped_when_monitoring_is_on(rendered: dict[str, Rendered]) -> None:
    monitors = rendered["inference-pool"].of_kind("ServiceMonitor")
    assert len(monitors) == 2
    assert len(rendered["monitoring"].of_kind("ServiceMonitor")) == 1


def test_inference_pool_without_its_crds_fails_naming_the_value() -> None:
    message = _refusal({"routing": {"mode": "inferencePool"}})
    for api in INFERENCE_POOL_APIS:
        assert f"routing.mode: inferencePool needs the {api} API" in message


def test_inference_pool_refuses_an_ingress_that_would_bypass_it() -> None:
    values = {"routing": {"mode": "inferencePool"}, "ingress": {"enabled": True}}
    message = _refusal(values, INFERENCE_POOL_APIS)
    assert "ingress.enabled: routing.mode inferencePool" in message
