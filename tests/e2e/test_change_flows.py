"""Changes as a reviewer sees them: `pulumi preview --diff`, then `pulumi up`.

A stack built from the dev stack file (in its own namespace) is deployed once; each
test changes one thing, reads the preview, applies it and leaves the stack deployed
for the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import SERVER_PODS, Cli, Stack, deployed, kube_get, wait_until

NAMESPACE = "llm-flows"
IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server@sha256:" + "aa" * 32
NEW_IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server@sha256:" + "bb" * 32
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

# A line of the detailed diff that changes something: `~`, `+` or `-` then a key.
CHANGE_LINE = re.compile(r"^\s*([~+-])\s+(\S.*)$")


@pytest.fixture(scope="module")
def flows(cli: Cli, project_dir: Path) -> Iterator[Stack]:
    dev = yaml.safe_load((project_dir / "Pulumi.dev.yaml").read_text())
    dev["config"]["tensorrt-llm:namespace"] = NAMESPACE
    (project_dir / "Pulumi.flows.yaml").write_text(yaml.safe_dump(dev, sort_keys=False))
    stack = Stack(cli, project_dir, "flows")
    stack.set_object("image", {"ref": IMAGE_REF})
    with deployed(stack):
        stack.up()
        yield stack


def server_pods() -> list[dict]:
    return kube_get("pod", NAMESPACE, selector=SERVER_PODS)


def ready_pod_names() -> set[str]:
    names = set()
    for pod in server_pods():
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True":
            names.add(pod["metadata"]["name"])
    return names


def changed_lines(stdout: str) -> list[str]:
    """The `~`/`+`/`-` lines of a detailed preview's diff, without resource headers and
    without the closing resource summary."""
    lines = []
    for line in stdout.partition("\nResources:")[0].splitlines():
        match = CHANGE_LINE.match(line)
        if match and "pulumi:pulumi:Stack" not in line and "kubernetes:" not in line:
            lines.append(f"{match.group(1)} {match.group(2).strip()}")
    return lines


def test_config_change_previews_as_that_change_only(flows: Stack) -> None:
    flows.set("replicas", "2")
    preview = flows.preview()
    assert preview.change_summary.get("update") == 1, preview.change_summary
    assert RELEASE_TYPE in preview.stdout
    changes = changed_lines(preview.stdout)
    assert any(re.search(r"replicaCount\s*:\s*1\s*=>\s*2", line) for line in changes), (
        preview.stdout
    )
    # Nothing else changes: the release's values map and the replica count line.
    unexpected = [line for line in changes if not re.match(r"~ (values|replicaCount)\b", line)]
    assert unexpected == [], preview.stdout
    flows.up()
    wait_until("2 ready server pods", lambda: len(ready_pod_names()) == 2)


def test_request_default_change_previews_as_that_change_only(flows: Stack) -> None:
    flows.set_object("requestDefaults", {"maxTokens": 512})
    preview = flows.preview()
    assert preview.change_summary.get("update") == 1, preview.change_summary
    changes = changed_lines(preview.stdout)
    assert any(re.search(r"\+ maxTokens\s*:\s*512", line) for line in changes), preview.stdout
    unexpected = [
        line
        for line in changes
        if not re.match(r"(~ values|\+ requestDefaults|\+ maxTokens)\b", line)
    ]
    assert unexpected == [], preview.stdout
    flows.up()


def test_template_only_chart_change_shows_and_rolls_pods(flows: Stack, project_dir: Path) -> None:
    before = ready_pod_names()
    assert before, "no ready server pods before the chart change"
    # The server pod template (the floor and spot Deployments and multi-node groups share it).
    deployment = project_dir / "infra/charts/tensorrt-llm/templates/_pod.tpl"
    anchor = '{{- include "tensorrt-llm.labels.standard" $ctx | nindent 4 }}'
    text = deployment.read_text()
    assert anchor in text, "the pod template's labels moved: update this test's anchor"
    deployment.write_text(text.replace(anchor, anchor + '\n    e2e.example.com/chart-edit: "1"', 1))

    preview = flows.preview()
    assert preview.change_summary.get("update") == 1, preview.stdout
    flows.up()

    def rolled() -> bool:
        replicas = kube_get("deployment", NAMESPACE, "tensorrt-llm")["spec"]["replicas"]
        ready = ready_pod_names()
        labelled = {
            p["metadata"]["name"]
            for p in server_pods()
            if p["metadata"]["labels"].get("e2e.example.com/chart-edit") == "1"
        }
        return len(ready) == replicas and ready <= labelled and not (ready & before)

    wait_until("the server pods to roll onto the edited template", rolled)


def test_image_change_keeps_the_values_diff_visible(flows: Stack) -> None:
    flows.set_object("image", {"ref": NEW_IMAGE_REF})
    flows.set("replicas", "1")
    preview = flows.preview()
    assert preview.change_summary.get("update") == 1, preview.stdout
    changes = changed_lines(preview.stdout)
    assert any("bb" * 32 in line for line in changes), preview.stdout
    assert any(re.search(r"replicaCount\s*:\s*2\s*=>\s*1", line) for line in changes), (
        preview.stdout
    )
    # The values map is compared key by key, not replaced by an unknown.
    assert "output<string>" not in preview.stdout
    assert "[unknown]" not in preview.stdout
