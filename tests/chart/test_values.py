"""values.yaml, values.schema.json and the chart's cross-value checks.

Bad values must stop `helm install` (and `pulumi up`) with a message naming the key,
before anything reaches the cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python
import pytest
import yaml

from tests.chart.rendering import CHART_DIR, render

VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return SCHEMA["definitions"][ref.rsplit("/", 1)[-1]]
    return node


def _schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every declared property; free-form maps are leaves."""
    for key, child in _resolve(node).get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from _schema_paths(child, f"{path}.")


def _schema_node(path: str) -> dict[str, Any]:
    node = SCHEMA
    for key in path.split("."):
        node = _resolve(node)["properties"][key]
    return _resolve(node)


def _values_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict) and "properties" in _schema_node(path):
            yield from _values_paths(value, f"{path}.")


def test_values_and_schema_declare_the_same_keys() -> None:
    in_values = set(_values_paths(VALUES))
    in_schema = set(_schema_paths(SCHEMA))
    assert in_values - in_schema == set(), "keys in values.yaml missing from the schema"
    assert in_schema - in_values == set(), "schema properties missing from values.yaml"


def test_schema_closes_every_structured_object() -> None:
    # Typos are only caught where additionalProperties is false.
    open_objects = [
        path or "<root>"
        for path in ["", *_schema_paths(SCHEMA)]
        if "properties" in (node := _schema_node(path) if path else SCHEMA)
        and node.get("additionalProperties") is not False
    ]
    assert open_objects == []


def test_every_key_in_values_yaml_has_a_comment() -> None:
    """helm-docs style: the line above each key is a comment (free-form maps excepted)."""
    documented_paths = set(_values_paths(VALUES))
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    undocumented: list[str] = []
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z_][\w.-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), key])
        stack.append((indent, key))
        if path not in documented_paths:
            continue  # inside a free-form map or a list item: its parent is documented
        previous = next((p for p in reversed(lines[:number]) if p.strip()), "")
        if not previous.strip().startswith("#"):
            undocumented.append(path)
    assert undocumented == []


def test_defaults_pass_the_schema() -> None:
    with helm_python.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(VALUES)


# (values, the key the error must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("top-level typo", {"replicaCont": 2}, "replicaCont"),
    ("nested typo", {"server": {"maxBatchSiz": 8}}, "maxBatchSiz"),
    ("replicas as string", {"replicaCount": "2"}, "/replicaCount"),
    ("negative replicas", {"replicaCount": -1}, "/replicaCount"),
    ("tensor parallel 0", {"tensorParallelSize": 0}, "/tensorParallelSize"),
    ("unknown engine", {"engine": "vllm"}, "/engine"),
    (
        "probe period 0",
        {"probes": {"startup": {"periodSeconds": 0}}},
        "/probes/startup/periodSeconds",
    ),
    (
        "probe timeout as text",
        {"probes": {"liveness": {"timeoutSeconds": "5s"}}},
        "/probes/liveness/timeoutSeconds",
    ),
    ("probe typo", {"probes": {"readiness": {"failureTreshold": 3}}}, "failureTreshold"),
    ("gpu flag as string", {"gpu": {"enabled": "yes"}}, "/gpu/enabled"),
    ("bad digest", {"image": {"digest": "latest"}}, "/image/digest"),
    ("unknown pull policy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    (
        "kv fraction above 1",
        {"server": {"kvCacheFreeGpuMemoryFraction": 1.5}},
        "/server/kvCacheFreeGpuMemoryFraction",
    ),
    ("unknown log format", {"server": {"logFormat": "xml"}}, "/server/logFormat"),
    ("negative drain", {"server": {"drainTimeoutSeconds": -5}}, "/server/drainTimeoutSeconds"),
    (
        "temperature above 2",
        {"requestDefaults": {"temperature": 3}},
        "/requestDefaults/temperature",
    ),
    ("min replicas -1", {"autoscaling": {"minReplicas": -1}}, "/autoscaling/minReplicas"),
    (
        "cpu target 150%",
        {"autoscaling": {"cpuFallback": {"targetCPUUtilizationPercentage": 150}}},
        "/autoscaling/cpuFallback/targetCPU",
    ),
    ("bad quantity", {"shm": {"sizeLimit": "lots"}}, "/shm/sizeLimit"),
    ("cache type", {"modelCache": {"type": "hostPath"}}, "/modelCache/type"),
    ("relative mount path", {"modelCache": {"mountPath": "cache"}}, "/modelCache/mountPath"),
    (
        "secret name with capitals",
        {"secrets": {"hfToken": {"name": "HF_Token"}}},
        "/secrets/hfToken/name",
    ),
    (
        "empty secret key",
        {"secrets": {"apiKeys": {"name": "api", "key": ""}}},
        "/secrets/apiKeys/key",
    ),
    ("service type", {"service": {"type": "ExternalName"}}, "/service/type"),
    ("port out of range", {"service": {"port": 70000}}, "/service/port"),
    ("anti-affinity type", {"podAntiAffinity": {"type": "strict"}}, "/podAntiAffinity/type"),
    (
        "scrape interval",
        {"monitoring": {"serviceMonitor": {"interval": "30 seconds"}}},
        "/monitoring/serviceMonitor/interval",
    ),
    (
        "dashboard label not a string",
        {"monitoring": {"dashboard": {"labels": {"grafana_dashboard": 1}}}},
        "/monitoring/dashboard/labels/grafana_",
    ),
    ("pod label not a string", {"podLabels": {"team": True}}, "/podLabels/team"),
    ("extraEnv without name", {"extraEnv": [{"value": "1"}]}, "/extraEnv/0"),
]


@pytest.mark.parametrize(
    ("values", "key"), [(v, k) for _, v, k in INVALID], ids=[c for c, _, _ in INVALID]
)
def test_schema_rejects_bad_values_naming_the_key(values: dict[str, Any], key: str) -> None:
    with (
        helm_python.Chart.load(CHART_DIR) as chart,
        pytest.raises(helm_python.HelmValuesError) as error,
    ):
        chart.validate_schema(values)
    assert key in str(error.value)


def test_render_applies_the_schema_too() -> None:
    # Pulumi's helm.v3.Release renders, it does not call validate_schema separately.
    with pytest.raises(helm_python.HelmValuesError, match="tensorParallelSize"):
        render({"tensorParallelSize": 0})


# Rules across several values, which the schema cannot express: `fail`ed by
# templates/_validations.tpl (tensorrt-llm.validate), all at once.
CROSS_VALUE: list[tuple[str, dict[str, Any], str]] = [
    ("tensorrt-llm without GPUs", {"gpu": {"enabled": False}}, "engine: tensorrt-llm needs GPUs"),
    (
        "TP on the simulated engine",
        {"engine": "simulated", "tensorParallelSize": 2},
        "tensorParallelSize: 2 needs engine tensorrt-llm",
    ),
    (
        "no model for transformers",
        {"engine": "transformers", "model": {"path": ""}},
        "model.path: required for engine transformers",
    ),
    (
        "GPUs set by hand",
        {"resources": {"limits": {"nvidia.com/gpu": 2}}},
        "resources.limits.nvidia.com/gpu",
    ),
    (
        "grace shorter than drain",
        {"terminationGracePeriodSeconds": 30},
        "terminationGracePeriodSeconds: 30 must exceed preStopSleepSeconds + server.drain",
    ),
    (
        "probe timeout above period",
        {"probes": {"readiness": {"timeoutSeconds": 10}}},
        "probes.readiness.timeoutSeconds: 10 exceeds periodSeconds 5",
    ),
    (
        "max below min replicas",
        {
            "autoscaling": {
                "enabled": True,
                "minReplicas": 4,
                "maxReplicas": 2,
                "cpuFallback": {"enabled": False},
            },
            "modelCache": {"accessMode": "ReadWriteMany"},
        },
        "autoscaling.maxReplicas: 2 is below autoscaling.minReplicas 4",
    ),
    (
        "RWO cache shared by replicas",
        {"replicaCount": 2},
        "modelCache.accessMode: ReadWriteOnce cannot be shared by up to 2",
    ),
    (
        "RWO cache with autoscaling",
        {"autoscaling": {"enabled": True}},
        "modelCache.accessMode: ReadWriteOnce cannot be shared by up to 4",
    ),
    (
        "read-only cache to download into",
        {"modelCache": {"accessMode": "ReadOnlyMany"}},
        "modelCache.accessMode: ReadOnlyMany needs an existingClaim",
    ),
    (
        "ingress without hosts",
        {"ingress": {"enabled": True, "hosts": []}},
        "ingress.hosts: at least one host",
    ),
    (
        "CPU fallback without CPU request",
        {
            "autoscaling": {"enabled": True, "maxReplicas": 1, "cpuFallback": {"enabled": True}},
            "resources": {"requests": {"cpu": None}},
        },
        "resources.requests.cpu: autoscaling.cpuFallback",
    ),
]


@pytest.mark.parametrize(
    ("values", "message"), [(v, m) for _, v, m in CROSS_VALUE], ids=[c for c, _, _ in CROSS_VALUE]
)
def test_cross_value_rules_fail_with_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmRenderError) as error:
        render(values)
    assert message in str(error.value)


def test_all_broken_rules_are_reported_in_one_run() -> None:
    with pytest.raises(helm_python.HelmRenderError) as error:
        render({"gpu": {"enabled": False}, "terminationGracePeriodSeconds": 5, "replicaCount": 3})
    text = str(error.value)
    for key in ("engine:", "terminationGracePeriodSeconds:", "modelCache.accessMode:"):
        assert key in text, text
