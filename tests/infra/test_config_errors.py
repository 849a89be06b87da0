"""Bad config stops the program with every bad key named, before any resource exists."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, parse
from tests.infra.harness import PROJECT, assert_refused, dev_with, run_program

GPU = {"enabled": True, "gpusPerNode": 8}
BIG_QUOTA = {"gpus": 64, "cpu": "512", "memory": "4Ti", "pods": 50, "storage": "10Ti"}
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "negative replicas": ({"replicas": "-1"}, "replicas: must be >= 1, got -1"),
    "replicas not a number": ({"replicas": "two"}, "replicas: must be an integer"),
    "unknown engine": ({"engine": "vllm"}, "engine: must be one of"),
    "tensor parallel 3": ({"tensorParallelSize": "3"}, "tensorParallelSize: must be one of"),
    "tensorrt-llm without GPUs": ({"engine": "tensorrt-llm"}, "engine: tensorrt-llm needs GPUs"),
    "tp does not divide node": (
        {"gpu": {"enabled": True, "gpusPerNode": 6}, "tensorParallelSize": "4", "quota": BIG_QUOTA},
        "tensorParallelSize: must divide gpu.gpusPerNode (6)",
    ),
    "max below min replicas": (
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
        "autoscaling.maxReplicas: 2 is below autoscaling.minReplicas 5",
    ),
    "autoscaling without bounds": (
        {"autoscaling": {"enabled": True}},
        "autoscaling.minReplicas: required when autoscaling.enabled",
    ),
    "quota short of GPUs": (
        {"gpu": GPU, "tensorParallelSize": "2", "replicas": "2", "quota": {**BIG_QUOTA, "gpus": 4}},
        "quota.gpus: must be >= 6",
    ),
    "quota short of CPU": ({"quota": {"cpu": "900m"}}, "quota.cpu: must hold 2 x 500m"),
    "unknown engine option": (
        {"server": {"engineOptions": {"enable_chunked_prefil": True}}},
        "server.engineOptions: enable_chunked_prefil: not an option of TensorRT-LLM's LLM API "
        "(did you mean enable_chunked_prefill?)",
    ),
    "engine option with a setting": (
        {"server": {"engineOptions": {"max_num_tokens": 4096}}},
        "server.engineOptions: max_num_tokens: set by server.maxNumTokens",
    ),
    "quota short of pods": (
        {"quota": {"cpu": "4", "memory": "8Gi", "pods": 1}},
        "quota.pods: must be >= 2",
    ),
    "quota memory not a quantity": (
        {"quota": {"memory": "lots"}},
        "quota.memory: must be a Kubernetes quantity",
    ),
    "both image ref and repository": (
        {"image": {"ref": "ghcr.io/x/y:1", "repository": "ghcr.io/x/y"}},
        "image.repository: set exactly one of image.ref",
    ),
    "private registry without password": (
        {"registry": {"server": "localhost:5001", "username": "ci", "private": True}},
        "registryPassword: required when registry.private",
    ),
    "image outside the registry": (
        {"registry": {"server": "registry.example.com"}},
        "image.repository: must be in registry.server (registry.example.com/...)",
    ),
    "typo in a top-level key": (
        {"autoscalling": {"enabled": False}},
        "autoscalling: unknown key (did you mean autoscaling?)",
    ),
    "typo in a nested key": (
        {"gpu": {"enbled": True}},
        "gpu.enbled: unknown key (did you mean enabled?)",
    ),
    "namespace not a DNS label": ({"namespace": "Bad_Name"}, "namespace: must be a DNS-1123"),
    "release name too long": ({"releaseName": "r" * 60}, "releaseName: must be at most 53"),
    "bad CIDR": (
        {"networkPolicy": {"modelHubCidrs": ["10.0.0.0/33"]}},
        "networkPolicy.modelHubCidrs[0]: must be a CIDR block",
    ),
    "shared RWO cache": (
        {
            "replicas": "2",
            "modelCache": {"type": "pvc", "accessMode": "ReadWriteOnce"},
            "quota": BIG_QUOTA,
        },
        "modelCache.accessMode: ReadWriteOnce cannot be shared by up to 2 pods",
    ),
    "adapter without monitoring": (
        {
            "prometheusAdapter": {"enabled": True},
            "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 1},
        },
        "monitoring.enabled: must be true when prometheusAdapter.enabled",
    ),
    "api keys required": ({"requireApiKeys": "true"}, "apiKeys: required when requireApiKeys"),
    "cpu image for tensorrt-llm": (
        {
            "engine": "tensorrt-llm",
            "gpu": GPU,
            "image": {"repository": "localhost:5001/s", "target": "cpu"},
            "quota": BIG_QUOTA,
        },
        "image.target: must be runtime when engine is tensorrt-llm",
    ),
    "ingress without host": (
        {"ingress": {"enabled": True}},
        "ingress.host: chart value ingress.hosts: at least one host is needed",
    ),
    "object key not an object": ({"gpu": "yes"}, "gpu: must be an object"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_config_is_a_run_error_naming_the_key(case: str) -> None:
    changes, message = CASES[case]
    assert_refused(dev_with(changes), message)


def test_plain_secret_is_refused_without_showing_it() -> None:
    run = run_program(*dev_with({}, plain={"hfToken": "hf_leaked_value"}))
    assert isinstance(run.error, ConfigError)
    assert f"{PROJECT}:hfToken: must be a secret" in str(run.error)
    assert "hf_leaked_value" not in str(run.error)
    assert run.registrations == []


def test_every_bad_key_is_reported_at_once() -> None:
    run = run_program(*dev_with({"replicas": "0", "engine": "vllm", "namespace": "X"}))
    assert isinstance(run.error, ConfigError)
    keys = {issue.key for issue in run.error.issues}
    assert keys == {"replicas", "engine", "namespace"}
    assert run.registrations == []


def test_every_broken_rule_is_reported_at_once() -> None:
    run = run_program(
        *dev_with(
            {
                "engine": "tensorrt-llm",
                "requireApiKeys": "true",
                "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 1},
            }
        )
    )
    assert isinstance(run.error, ConfigError)
    keys = {issue.key for issue in run.error.issues}
    assert {"engine", "apiKeys", "autoscaling.maxReplicas"} <= keys


def test_error_lines_have_the_documented_shape() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"replicas": -1}, PROJECT)
    assert caught.value.issues[0].line(PROJECT) == f"{PROJECT}:replicas: must be >= 1, got -1"


def test_secret_supplied_with_secret_flag_is_accepted() -> None:
    run = run_program(*dev_with({"requireApiKeys": "true"}, secrets={"apiKeys": "k1,k2"}))
    assert run.error is None
    assert any(r.name == "server-secrets-api-keys" for r in run.registrations)


def test_a_number_is_a_quantity_as_pulumi_config_set_path_stores_it() -> None:
    # `pulumi config set --path quota.cpu 6` stores the integer 6.
    quota = {"gpus": 0, "cpu": 6, "memory": "8Gi", "pods": 10, "storage": "20Gi"}
    run = run_program(*dev_with({"quota": quota}))
    assert run.error is None, str(run.error)
    (resource_quota,) = run.of_type("kubernetes:core/v1:ResourceQuota")
    assert resource_quota.plain("spec")["hard"]["requests.cpu"] == "6"
    assert_refused(dev_with({"quota": {**quota, "cpu": True}}), "quota.cpu:")
