"""Stack config for models larger than a node: `parallelism` and the rules around it.

Pulumi.prod-405b.yaml (TP 8 x PP 2 over two 8-GPU nodes) is the reference stack; each
case breaks one rule and expects the one-line error naming the key to change.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.stack import load_stack
from infra.values import chart_values, offline_image_ref
from tests.infra.harness import assert_refused, dev_with, stack_config, stack_with

STACK = "prod-405b"
PARALLELISM = {"tensor": 8, "pipeline": 2, "nodes": 2}


def refused(changes: dict[str, Any], line: str) -> None:
    assert_refused(stack_with(STACK, changes), line)


def test_the_405b_stack_spans_two_nodes_per_instance() -> None:
    config = load_stack(STACK)
    assert (config.gpus_per_instance, config.gpus_per_pod, config.multi_node) == (16, 8, True)
    values = chart_values(config, offline_image_ref(config))
    assert values["tensorParallelSize"] == 8
    assert values["parallelism"] == {"pipeline": 2, "nodes": 2, "exclusiveTopology": ""}


def test_tensor_parallel_size_alone_keeps_working() -> None:
    config = load_stack("prod")
    assert (config.tensor_size, config.gpus_per_instance, config.multi_node) == (2, 2, False)


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"parallelism": {**PARALLELISM, "tensor": 3}},
            "parallelism.tensor: must be a power of two from 1 to 64, got 3",
        ),
        (
            {"tensorParallelSize": "4"},
            "parallelism.tensor: conflicts with tensorParallelSize 4: set one of them",
        ),
        (
            {"parallelism": {"tensor": 8, "pipeline": 1, "nodes": 2}},
            "parallelism.nodes: must split tensor x pipeline = 8 GPUs into whole nodes of "
            "gpu.gpusPerNode (8)",
        ),
        (
            {"parallelism": {"tensor": 8, "pipeline": 1, "nodes": 3}},
            "parallelism.nodes: 3 must divide tensorParallelSize x parallelism.pipeline = 8",
        ),
        (
            {"parallelism": {"tensor": 8, "pipeline": 2, "nodes": 1}},
            "parallelism.pipeline: tensor x pipeline = 16 GPUs must divide gpu.gpusPerNode (8)",
        ),
        (
            {"quota": {"gpus": 16, "cpu": "136", "memory": "2304Gi", "pods": 8, "storage": "1Ti"}},
            "quota.gpus: must be >= 32 (2 groups + 0 rollout surge, x parallelism.nodes 2, "
            "x 8 GPUs per pod (tensor x pipeline / nodes))",
        ),
        (
            {"quota": {"gpus": 32, "cpu": "136", "memory": "2304Gi", "pods": 3, "storage": "1Ti"}},
            "quota.pods: must be >= 4",
        ),
        (
            {"quota": {"gpus": 32, "cpu": "100", "memory": "2304Gi", "pods": 8, "storage": "1Ti"}},
            "quota.cpu: must hold 4 x 32",
        ),
        (
            {
                "modelCache": {
                    "enabled": True,
                    "type": "pvc",
                    "size": "1Ti",
                    "storageClass": "standard-rwx",
                    "accessMode": "ReadWriteMany",
                }
            },
            "modelCache.prefill: must be true when parallelism.nodes > 1",
        ),
        (
            {"parallelism": {"tensor": 8, "pipeline": 1, "nodes": 1}},
            "tensorParallelSize: does not fit in one node's 8 GPUs: span nodes (parallelism.nodes)",
        ),
    ],
    ids=[
        "tensor not a power of two",
        "tensor and tensorParallelSize disagree",
        "pods that share nodes",
        "nodes that do not divide the ranks",
        "pipeline past one node without nodes",
        "quota short of a group's GPUs",
        "quota short of a group's pods",
        "quota short of a group's CPU",
        "no shared cache to load from",
        "405B in BF16 on one node",
    ],
)
def test_each_rule_names_its_key(changes: dict[str, Any], line: str) -> None:
    refused(changes, line)


def test_groups_do_not_run_on_spot_capacity() -> None:
    refused(
        {"spot": {"enabled": True}},
        "spot.enabled: not supported with parallelism.nodes > 1",
    )


def test_groups_need_tensorrt_llm_on_gpus() -> None:
    assert_refused(
        dev_with({"parallelism": {"tensor": 2, "pipeline": 1, "nodes": 2}}),
        "parallelism.nodes: > 1 needs engine tensorrt-llm and gpu.enabled",
    )


def test_the_program_runs_the_405b_stack() -> None:
    from tests.infra.harness import run_program

    run = run_program(*stack_config(STACK), stack=STACK)
    assert run.error is None, run.error
