"""The README and stack files say what the code does, and show safe commands."""

from __future__ import annotations

import re
import shlex

import yaml

from infra.chart import CHART_DIR
from tests.tools import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
DOCUMENTS = {
    "README.md": README,
    **{p.name: p.read_text() for p in sorted(REPO_ROOT.glob("Pulumi.*.yaml"))},
}


def commands(text: str, program: str) -> list[list[str]]:
    """Every `program ...` command line in the text (shell comments dropped)."""
    found = []
    for line in text.splitlines():
        line = line.lstrip("# ").split("  #", 1)[0]
        if line.startswith(program + " "):
            found.append(shlex.split(line, comments=True))
    return found


def test_no_secret_is_given_on_the_command_line() -> None:
    # A value after the key lands in shell history and `ps`; without one, pulumi
    # prompts (or reads a pipe).
    for name, text in DOCUMENTS.items():
        for words in commands(text, "pulumi config set"):
            if "--secret" not in words:
                continue
            words = words[: words.index("<")] if "<" in words else words  # a redirect
            values = [
                w
                for i, w in enumerate(words[3:], 3)
                if not w.startswith("-") and words[i - 1] not in {"--stack", "-s"}
            ]
            assert len(values) == 1, f"{name}: a value after the key in {' '.join(words)}"


def test_the_minimum_kubernetes_version_is_the_charts() -> None:
    kube_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"]
    floor = re.fullmatch(r">=\s*(\d+\.\d+)\.0(-0)?", kube_version)
    assert floor, kube_version
    assert f"Kubernetes {floor.group(1)} or later" in README


def test_python_commands_in_the_deploy_steps_use_the_venv() -> None:
    steps = README.split("### Steps", 1)[1].split("```", 2)[1]
    bare = [line for line in steps.splitlines() if line.startswith("python -m")]
    assert bare == [], f"use .venv/bin/python: {bare}"


def test_the_prometheus_adapter_warning_names_the_api_it_claims() -> None:
    assert "v1beta1.custom.metrics.k8s.io" in README


def test_the_local_registry_the_dev_stack_uses_is_documented() -> None:
    dev = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]
    registry = dev["tensorrt-llm:image"]["repository"].split("/", 1)[0]
    section = README.split("### A laptop cluster with a local registry", 1)
    assert len(section) == 2, "README lost the local registry section Pulumi.dev.yaml cites"
    assert f"/etc/containerd/certs.d/{registry}" in section[1]


def backup_section() -> str:
    section = README.split("**Back up and recover.**", 1)
    assert len(section) == 2, "README lost its backup and recovery section"
    return section[1].split("**Troubleshoot.**", 1)[0]


def test_backup_section_covers_each_place_state_lives() -> None:
    text = backup_section()
    for needle in [
        "pulumi stack export --stack prod --file",
        "pulumi stack import --stack prod --file",
        "helm rollback",
        "sh.helm.release.v1.",
        "modelCache.snapshot.name",
        "modelCache.snapshot.restoreFrom",
        "--clear-pending-creates",
    ]:
        assert needle in text, needle


def test_backup_section_keys_are_real_stack_keys() -> None:
    table = README.split("<!-- config-reference:start -->", 1)[1]
    for key in re.findall(r"`(modelCache\.[\w.]+)`", backup_section()):
        assert f"| `{key}` |" in table, f"{key} is not a stack key"


def test_the_pre_provisioned_snapshot_example_binds_both_ways() -> None:
    block = backup_section().split("```yaml", 1)[1].split("```", 1)[0]
    content, snapshot = yaml.safe_load_all(block)
    ref = content["spec"]["volumeSnapshotRef"]
    assert (ref["name"], ref["namespace"]) == (
        snapshot["metadata"]["name"],
        snapshot["metadata"]["namespace"],
    )
    assert snapshot["spec"]["source"]["volumeSnapshotContentName"] == content["metadata"]["name"]
    prod = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]
    assert ref["namespace"] == prod["tensorrt-llm:namespace"]
