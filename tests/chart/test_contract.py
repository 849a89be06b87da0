"""The chart speaks the server's language: env names and values, metric names, port.

The server owns these facts (service/settings.py ENV_VARS, service/metric_names.py
METRIC_NAMES); the chart restates them in templates, so these tests are what keep
the two from drifting apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.chart import CHART_DIR
from infra.values import SERVICE_MONITOR_API
from service import multinode
from service.engine_options import read_engine_options
from service.metric_names import METRIC_NAMES, REQUESTS_WAITING
from service.request_scope import MAX_REQUEST_BODY_BYTES
from service.settings import ENV_VARS, Settings
from tests.chart.rendering import Rendered, env_of, render, server_container

# Read by huggingface_hub / the OS, or by the multi-node launcher, not by Settings.
NON_SETTINGS_ENV = frozenset(
    {"HF_TOKEN", "HF_HOME", "HF_HUB_OFFLINE", "HOME", multinode.SSH_PORT_ENV, multinode.SSH_KEY_ENV}
)
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
DASHBOARD = json.loads((CHART_DIR / "dashboards" / "tensorrt-llm.json").read_text())


def test_every_env_name_is_a_server_setting(rendered: dict[str, Rendered]) -> None:
    unknown = {
        f"{scenario}: {name}"
        for scenario, result in rendered.items()
        for name in env_of(server_container(result))
        if name not in ENV_VARS | NON_SETTINGS_ENV
    }
    assert unknown == set()


def pod_settings(result: Rendered, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings as the server builds them from the env (and files) the chart gives the pod."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    env = env_of(server_container(result))
    for name, value in env.items():
        if name in NON_SETTINGS_ENV:
            continue
        # Secret references stand in for values the kubelet injects at start.
        monkeypatch.setenv(name, value if isinstance(value, str) else "k-0123456789abcdef")
    if "ENGINE_OPTIONS_FILE" in env:
        # The mounted ConfigMap, where the pod would see it.
        data = next(
            c["data"]
            for c in result.of_kind("ConfigMap")
            if c["metadata"]["name"].endswith("-engine-options")
        )
        [(file_name, content)] = data.items()
        assert env["ENGINE_OPTIONS_FILE"].endswith("/" + file_name)
        (tmp_path / file_name).write_text(content)
        monkeypatch.setenv("ENGINE_OPTIONS_FILE", str(tmp_path / file_name))
    return Settings()


@pytest.mark.parametrize("scenario", ["defaults", "gpu-tp2", "gpu-less-simulated", "no-cache"])
def test_rendered_env_loads_into_the_server_settings(
    rendered: dict[str, Rendered],
    scenario: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The env the pod gets is accepted by the real Settings class (types, enums, ranges)."""
    settings = pod_settings(rendered[scenario], monkeypatch, tmp_path)
    env = env_of(server_container(rendered[scenario]))
    assert settings.engine == env["ENGINE"]
    assert settings.port == 8000
    assert settings.tensor_parallel_size == int(env["TENSOR_PARALLEL_SIZE"])


def test_tp2_settings_reach_the_server(
    rendered: dict[str, Rendered], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = pod_settings(rendered["gpu-tp2"], monkeypatch, tmp_path)
    assert settings.tensor_parallel_size == 2
    # Helm hands numbers over as float64; 1000000 must not arrive as "1e+06".
    assert settings.max_num_tokens == 1_000_000
    assert settings.max_seq_len == 131_072
    assert settings.engine_stall_seconds == 600
    assert settings.engine_options_file is not None
    assert read_engine_options(settings.engine_options_file) == {"enable_chunked_prefill": True}
    assert settings.kv_cache_free_gpu_memory_fraction == pytest.approx(0.85)
    assert settings.max_batch_size == 128
    assert (settings.max_tokens, settings.temperature, settings.top_p) == (512, 0.7, 0.95)
    assert settings.served_model_name == "llama-8b"
    assert settings.log_level == "debug"


def _metric_names_in(expr: str) -> set[str]:
    # Series selectors (`name{...}` / `name[...]`) and label_values(name, ...) arguments.
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]", expr))
    names |= set(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", expr))
    return names


def _base_name(series: str) -> str:
    for suffix in HISTOGRAM_SERIES:
        if series.endswith(suffix) and series.removesuffix(suffix) in METRIC_NAMES:
            return series.removesuffix(suffix)
    return series


def _dashboard_queries() -> list[str]:
    queries = [t["expr"] for panel in DASHBOARD["panels"] for t in panel.get("targets", [])]
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def test_dashboard_queries_use_only_exported_metrics() -> None:
    queries = _dashboard_queries()
    used = {_base_name(name) for query in queries for name in _metric_names_in(query)}
    assert used - METRIC_NAMES == set()
    # Every exported metric has a panel: a metric nobody can see is a metric nobody reads.
    assert used == METRIC_NAMES


def test_metric_extraction_sees_a_wrong_name() -> None:
    names = _metric_names_in('sum(rate(vllm:num_requests_waiting{ns="a"}[5m]))')
    assert names == {"vllm:num_requests_waiting"}


def test_dashboard_configmap_ships_the_dashboard_file(rendered: dict[str, Rendered]) -> None:
    configmap = rendered["monitoring"].one("ConfigMap")
    assert json.loads(configmap["data"]["tensorrt-llm.json"]) == DASHBOARD
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"


def _hpa_metrics(hpa: dict[str, Any]) -> list[str]:
    return [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]


def test_hpa_scales_on_the_servers_queue_metric(rendered: dict[str, Rendered]) -> None:
    hpa = rendered["autoscaling"].one("HorizontalPodAutoscaler")
    assert _hpa_metrics(hpa) == [REQUESTS_WAITING]
    assert set(_hpa_metrics(hpa)) <= METRIC_NAMES


def test_container_port_matches_the_server_default(rendered: dict[str, Rendered]) -> None:
    container = server_container(rendered["defaults"])
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert Settings.model_fields["port"].default == 8000
    assert env_of(container)["PORT"] == "8000"


def test_ingress_defaults_match_the_servers_limits(rendered: dict[str, Rendered]) -> None:
    """The proxy in front refuses what the server would refuse, and waits as long."""
    annotations = rendered["ingress"].one("Ingress")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[prefix + "proxy-body-size"] == f"{MAX_REQUEST_BODY_BYTES // 2**20}m"
    body_timeout = Settings.model_fields["body_timeout_seconds"].default
    assert annotations[prefix + "proxy-send-timeout"] == str(int(body_timeout))
    assert annotations[prefix + "proxy-request-buffering"] == "on"
    assert annotations[prefix + "proxy-buffering"] == "off"


def test_dashboard_compares_versions_by_the_labels_the_service_monitor_adds() -> None:
    """Each series gets model_name and version at scrape time; one row splits by both."""
    values = {
        "monitoring": {"serviceMonitor": {"enabled": True}},
        "model": {"servedModelName": "m"},
        "modelVersion": "v2",
    }
    monitor = render(values, api_versions=[SERVICE_MONITOR_API]).one("ServiceMonitor")
    relabelings = monitor["spec"]["endpoints"][0]["relabelings"]
    assert {r["targetLabel"]: r["replacement"] for r in relabelings} == {
        "model_name": "m",
        "version": "v2",
    }
    added = [r["targetLabel"] for r in relabelings]
    panels = DASHBOARD["panels"]
    (row,) = [i for i, p in enumerate(panels) if p["type"] == "row" and "version" in p["title"]]
    compared = [t["expr"] for p in panels[row + 1 :] for t in p["targets"]]
    assert len(compared) >= 4
    assert all(f"by ({', '.join(added)}" in expr for expr in compared), compared
