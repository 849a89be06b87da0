"""`pulumi up` of a new stack returns only once the pods it asked for serve.

pulumi-kubernetes' Release waits the way Helm 3 does (pkg/kube/ready.go): a
Deployment counts as ready once `spec.replicas - maxUnavailable` pods of its new
ReplicaSet are. Each stack's first install must make that every pod it asks for.
"""

from __future__ import annotations

import pytest
import yaml

from infra.chart import render_chart
from infra.stack import load_stack
from infra.values import chart_values, expected_cluster_apis, offline_image_ref
from tests.infra.harness import STACKS


def deployment(stack: str, upgrade: bool) -> dict:
    config = load_stack(stack)
    files = render_chart(
        chart_values(config, offline_image_ref(config)),
        release=config.release_name,
        namespace=config.namespace,
        api_versions=expected_cluster_apis(config),
        upgrade=upgrade,
    )
    return yaml.safe_load(files["tensorrt-llm/templates/deployment.yaml"])


def ready_threshold(doc: dict) -> int:
    spec = doc["spec"]
    return spec.get("replicas", 1) - int(spec["strategy"]["rollingUpdate"]["maxUnavailable"])


@pytest.mark.parametrize("stack", [s for s in STACKS if not load_stack(s).multi_node])
def test_first_install_waits_for_every_pod_the_stack_asks_for(stack: str) -> None:
    config = load_stack(stack)
    wanted = config.autoscaling.min_replicas if config.autoscaling.enabled else config.replicas
    assert wanted and ready_threshold(deployment(stack, upgrade=False)) == wanted


def test_prod_upgrades_still_replace_pods_in_place() -> None:
    # The quota has no GPUs for a surge pod: upgrades keep maxSurge 0, maxUnavailable 1.
    strategy = deployment("prod", upgrade=True)["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 0, "maxUnavailable": 1}
