"""GPU placement works on nodes prepared as the README says.

A node prepared per the README carries the NVIDIA driver and either the label
`nvidia.com/gpu.present=true` or Node Feature Discovery's PCI label, both of which the
device plugin chart's default affinity accepts. Labels such as
`nvidia.com/gpu.product` appear only once GPU Feature Discovery runs there, so a
server that selects on them needs GFD installed with the plugin, and the plugin must
not select on them itself.
"""

from __future__ import annotations

import json

from infra.gpu import (
    CRITICAL_PRIORITY_CLASS,
    GFD_LABEL_PREFIXES,
    device_plugin_values,
    feature_discovery_enabled,
    gfd_labels,
)
from infra.stack import load_stack
from tests.infra.harness import PROJECT, run_program, stack_config
from tests.tools import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
README_NODE_LABEL = "nvidia.com/gpu.present=true"


def prod_with_gpu(**gpu_overrides: object) -> tuple[dict[str, str], list[str]]:
    config, secret_keys = stack_config("prod")
    gpu = json.loads(config[f"{PROJECT}:gpu"])
    config[f"{PROJECT}:gpu"] = json.dumps({**gpu, **gpu_overrides})
    return config, secret_keys


def plugin_values(config: dict[str, str], secret_keys: list[str]) -> dict:
    run = run_program(config, secret_keys, stack="prod")
    assert run.error is None, str(run.error)
    (release,) = [r for r in run.registrations if r.name == "gpu-release"]
    return release.plain("values")


def test_the_readme_prepares_nodes_with_a_label_the_plugin_chart_accepts() -> None:
    assert README_NODE_LABEL in README
    assert not gfd_labels({"nvidia.com/gpu.present": "true"})


def test_prod_selects_on_gfd_labels_so_gfd_runs_with_the_plugin() -> None:
    prod = load_stack("prod")
    assert gfd_labels(prod.gpu.node_selector), "prod selects on nvidia.com/gpu.product"
    values = device_plugin_values(prod)
    assert values["gfd"] == {"enabled": True}
    # NFD's workers reach tainted GPU nodes like the plugin does.
    assert values["nfd"]["worker"]["tolerations"] == values["tolerations"]
    assert "nodeSelector" not in values and "affinity" not in values


def test_a_selector_on_node_pool_labels_needs_no_gfd() -> None:
    config, secret_keys = prod_with_gpu(
        nodeSelector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    )
    values = plugin_values(config, secret_keys)
    assert "gfd" not in values and "nodeSelector" not in values


def test_feature_discovery_can_be_forced_either_way() -> None:
    config, secret_keys = prod_with_gpu(featureDiscovery=False)
    assert "gfd" not in plugin_values(config, secret_keys)
    prod = load_stack("prod")
    assert feature_discovery_enabled(prod) is True


def test_every_label_gfd_sets_counts_and_the_hand_set_one_does_not() -> None:
    assert gfd_labels(
        {
            "nvidia.com/gpu.product": "x",
            "nvidia.com/cuda.driver.major": "580",
            "nvidia.com/mig.strategy": "single",
            "nvidia.com/gpu.present": "true",
            "node.kubernetes.io/instance-type": "p5.48xlarge",
        }
    ) == ["nvidia.com/cuda.driver.major", "nvidia.com/gpu.product", "nvidia.com/mig.strategy"]
    assert all(prefix.startswith("nvidia.com/") for prefix in GFD_LABEL_PREFIXES)


def test_the_plugin_namespace_admits_system_node_critical_pods() -> None:
    config, secret_keys = stack_config("prod")
    run = run_program(config, secret_keys, stack="prod")
    quota = run.one("kubernetes:core/v1:ResourceQuota", "gpu-critical-pods")
    spec = quota.plain("spec")
    (expression,) = spec["scopeSelector"]["matchExpressions"]
    assert expression == {
        "scopeName": "PriorityClass",
        "operator": "In",
        "values": [CRITICAL_PRIORITY_CLASS],
    }
    assert quota.plain("metadata")["namespace"] == load_stack("prod").gpu.device_plugin_namespace
    release = run.one("kubernetes:helm.sh/v3:Release", "gpu-release")
    assert quota.urn in release.dependencies, "the quota must exist before the plugin's pods"


def test_managed_clouds_get_no_device_plugin() -> None:
    config, secret_keys = prod_with_gpu(provisioner="managed")
    run = run_program(config, secret_keys, stack="prod")
    assert run.error is None, str(run.error)
    assert not [r for r in run.registrations if r.name.startswith("gpu")]
