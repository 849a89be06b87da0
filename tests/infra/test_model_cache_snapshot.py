"""A stack can snapshot its warm model cache and start a new cluster from a snapshot."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from infra.stack import load_stack
from infra.values import render_stack
from tests.tools import REPO_ROOT


def prod_with_cache(tmp_path: Path, snapshot: dict[str, str]) -> list[dict[str, Any]]:
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["tensorrt-llm:modelCache"]["snapshot"] = snapshot
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    manifests = render_stack(load_stack("prod", tmp_path))
    return [d for text in manifests.values() for d in yaml.safe_load_all(text) if d]


def test_a_named_snapshot_is_rendered_for_the_stacks_cache_claim(tmp_path: Path) -> None:
    docs = prod_with_cache(tmp_path, {"name": "qwen-cache-v1"})
    (snapshot,) = [d for d in docs if d["kind"] == "VolumeSnapshot"]
    (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert snapshot["metadata"]["name"] == "qwen-cache-v1"
    assert snapshot["spec"]["source"] == {"persistentVolumeClaimName": claim["metadata"]["name"]}


def test_a_new_cluster_restores_its_cache_claim_from_a_snapshot(tmp_path: Path) -> None:
    docs = prod_with_cache(tmp_path, {"restoreFrom": "qwen-cache-v1"})
    (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["dataSource"]["name"] == "qwen-cache-v1"
    assert not [d for d in docs if d["kind"] == "VolumeSnapshot"]


def test_the_shipped_stacks_take_no_snapshot() -> None:
    for stack in ("dev", "prod"):
        docs = [
            d
            for text in render_stack(load_stack(stack)).values()
            for d in yaml.safe_load_all(text)
            if d
        ]
        assert not [d for d in docs if d["kind"] == "VolumeSnapshot"], stack
