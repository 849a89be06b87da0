"""The chart owns the rules about its values; a stack that breaks one stops at config time.

Every cross-value rule the chart `fail`s on is reached here from a stack config, and
the program reports it naming the stack key before it registers anything. A rule that
no stack key can reach names the key it would take, which must not exist.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra import docs
from infra.chart import CHART_DIR
from tests.infra.harness import assert_refused, dev_with
from tests.infra.test_config_errors import BIG_QUOTA

# A rule is named by its message's chart key and first word, as the template writes it.
_APPEND = re.compile(r'append \$errors \(?(?:printf )?"(?P<head>[^": ]+: [^" ]+)')


def chart_rules() -> set[str]:
    templates = sorted((CHART_DIR / "templates").glob("_*.tpl"))
    return {m["head"] for path in templates for m in _APPEND.finditer(path.read_text())}


GPU_TRANSFORMERS = {"engine": "transformers", "gpu": {"enabled": True}, "quota": BIG_QUOTA}
SHARED_CLAIM_QUOTA = {**BIG_QUOTA, "gpus": 0}
# Two GPU pods, the cache per pod: a spot burst of one above a floor of one.
SPOT_GPU = {**GPU_TRANSFORMERS, "replicas": "2", "modelCache": {"type": "emptyDir"}}
SPOT_GKE = {"enabled": True, "provider": "gke"}
PREFILL_TRANSFORMERS = {
    "engine": "transformers",
    "model": {"path": "org/model", "revision": "abc"},
    "modelCache": {"type": "pvc", "prefill": True},
}

# rule -> (stack keys changed from the dev stack, the line the program reports)
REACHED: dict[str, tuple[dict[str, Any], str]] = {
    "engine: tensorrt-llm": (
        {
            "engine": "tensorrt-llm",
            "image": {"repository": "localhost:5001/s", "target": "runtime"},
        },
        "engine: tensorrt-llm needs GPUs",
    ),
    "tensorParallelSize: %d": (
        {**GPU_TRANSFORMERS, "tensorParallelSize": "2"},
        "tensorParallelSize: 2 needs engine tensorrt-llm (engine is transformers)",
    ),
    "parallelism.pipeline: %d": (
        {**GPU_TRANSFORMERS, "parallelism": {"pipeline": 2}},
        "parallelism.pipeline: 2 needs engine tensorrt-llm (engine is transformers)",
    ),
    # Also the rule on the LeaderWorkerSet API, which the program always renders with.
    "parallelism.nodes: %d": (
        {**GPU_TRANSFORMERS, "parallelism": {"nodes": 3}},
        "parallelism.nodes: 3 must divide tensorParallelSize x parallelism.pipeline = 1",
    ),
    "model.path: required": (
        {"engine": "transformers", "model": {"path": ""}},
        "model.path: required for engine transformers",
    ),
    "terminationGracePeriodSeconds: %d": (
        {"server": {"drainTimeoutSeconds": 55}},
        "server.drainTimeoutSeconds: chart value terminationGracePeriodSeconds: 60 must exceed",
    ),
    "autoscaling.maxReplicas: %d": (
        {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 2}},
        "autoscaling.maxReplicas: 2 is below autoscaling.minReplicas 3",
    ),
    "modelCache.accessMode: %s": (
        {
            "replicas": "2",
            "modelCache": {"type": "pvc", "accessMode": "ReadWriteOncePod"},
            "quota": SHARED_CLAIM_QUOTA,
        },
        "modelCache.accessMode: ReadWriteOncePod cannot be shared by up to 2 pods",
    ),
    "modelCache.accessMode: ReadOnlyMany": (
        {"modelCache": {"type": "pvc", "accessMode": "ReadOnlyMany"}, "quota": BIG_QUOTA},
        "modelCache.accessMode: ReadOnlyMany needs an existingClaim",
    ),
    "modelCache.prefill: needs": (
        {**PREFILL_TRANSFORMERS, "modelCache": {"type": "emptyDir", "prefill": True}},
        "modelCache.prefill: needs modelCache.enabled and type pvc",
    ),
    "modelCache.prefill: the": (
        {"modelCache": {"type": "pvc", "prefill": True}},
        "modelCache.prefill: the simulated engine loads no model",
    ),
    "model.revision: required": (
        {**PREFILL_TRANSFORMERS, "model": {"path": "org/model"}},
        "model.revision: required with modelCache.prefill",
    ),
    "model.path: %s": (
        {**PREFILL_TRANSFORMERS, "model": {"path": "/models/m", "revision": "abc"}},
        "model.path: /models/m is a directory; modelCache.prefill downloads a hub model id",
    ),
    "modelCache.quantize: needs": (
        {**PREFILL_TRANSFORMERS, "modelCache": {"type": "pvc", "quantize": True}},
        "modelCache.quantize: needs modelCache.prefill",
    ),
    "spot.nodeLabels: at": (
        {**SPOT_GPU, "spot": {"enabled": True}},
        "spot.provider: chart value spot.nodeLabels: at least one spot node label is needed",
    ),
    "spot.onDemandReplicas: %d": (
        {**SPOT_GPU, "spot": {**SPOT_GKE, "onDemandReplicas": 2}},
        "spot.onDemandReplicas: 2 leaves no spot replicas; it must be below replicaCount 2",
    ),
    "autoscaling.minReplicas: %d": (
        {
            **SPOT_GPU,
            "spot": {**SPOT_GKE, "onDemandReplicas": 1},
            "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3},
        },
        "autoscaling.minReplicas: 1 must exceed spot.onDemandReplicas in mode hpa",
    ),
    "ingress.hosts: at": (
        {"ingress": {"enabled": True}},
        "ingress.host: chart value ingress.hosts: at least one host is needed",
    ),
}

# rule -> the stack key that would reach it (absent from the stack's schema)
UNREACHABLE: dict[str, str] = {
    # The stack's resources hold cpu and memory; tensorParallelSize sets the GPUs.
    "resources.limits.%s: set": "resources.limits.nvidia.com/gpu",
    "resources.requests.%s: set": "resources.requests.nvidia.com/gpu",
    # The stack sets only the startup probe's threshold (from modelLoadTimeoutSeconds).
    "probes.%s.timeoutSeconds: %d": "probes",
    "resources.requests.cpu: autoscaling.cpuFallback": "autoscaling.cpuFallback",
    # The program sets the Job's quantization from model.quantization.
    "modelCache.quantizeJob.quantization: required": "modelCache.quantizeJob",
}


def test_every_chart_rule_is_reached_from_a_stack_or_unreachable() -> None:
    rules = chart_rules()
    assert len(rules) >= 10, "the rule pattern no longer matches the chart's validations"
    assert rules == set(REACHED) | set(UNREACHABLE)


@pytest.mark.parametrize("rule", UNREACHABLE)
def test_unreachable_rules_have_no_stack_key(rule: str) -> None:
    key = UNREACHABLE[rule]
    keys = [doc.key for doc in docs.key_docs()]
    assert not [k for k in keys if k == key or k.startswith(key + ".")], rule


@pytest.mark.parametrize("rule", REACHED)
def test_chart_rule_stops_the_program_before_any_resource(rule: str) -> None:
    changes, line = REACHED[rule]
    assert_refused(dev_with(changes), line)


def test_chart_and_program_rules_are_reported_together() -> None:
    changes = {**GPU_TRANSFORMERS, "tensorParallelSize": "2", "requireApiKeys": "true"}
    error = assert_refused(dev_with(changes), "tensorParallelSize: 2 needs engine tensorrt-llm")
    assert {"tensorParallelSize", "apiKeys"} <= {issue.key for issue in error.issues}
