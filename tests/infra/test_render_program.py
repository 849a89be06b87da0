"""`python -m infra.render` shows everything the program creates, with placeholders
labelled and secret values redacted."""

from __future__ import annotations

from functools import cache

import kubernetes_validate
import pytest
import yaml

from infra.offline import IMAGE_TYPE, RELEASE_TYPE
from infra.render import DIGEST_NOTE, PROGRAM_DIR, REDACTED, render_all
from infra.values import PLACEHOLDER_DIGEST
from tests.infra.harness import STACKS, run_program, stack_config
from tests.infra.test_render import CUSTOM_GROUPS

KUBE_VERSION = "1.31"


@cache
def rendered(stack: str) -> dict[str, str]:
    return render_all(stack)


def program_docs(stack: str) -> list[dict]:
    return [
        yaml.safe_load(text)
        for path, text in rendered(stack).items()
        if path.startswith(f"{PROGRAM_DIR}/")
        and "/helm-release-" not in path
        and "/image-" not in path
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_the_program_registers_is_rendered(stack: str) -> None:
    run = run_program(*stack_config(stack), stack=stack)
    kubernetes = [
        r
        for r in run.registrations
        if r.custom and r.type.startswith("kubernetes:") and r.type != RELEASE_TYPE
    ]
    docs = program_docs(stack)
    assert sorted(d["kind"] for d in docs) == sorted(r.type.rsplit(":", 1)[1] for r in kubernetes)
    releases = [r for r in run.of_type(RELEASE_TYPE) if r.plain("repositoryOpts")]
    upstream = [p for p in rendered(stack) if "/helm-release-" in p]
    assert len(upstream) == len(releases)
    images = [p for p in rendered(stack) if p.startswith(f"{PROGRAM_DIR}/image-")]
    assert len(images) == len(run.of_type(IMAGE_TYPE))


@pytest.mark.parametrize("stack", STACKS)
def test_program_objects_are_valid_kubernetes(stack: str) -> None:
    for doc in program_docs(stack):
        if doc["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
            continue  # the shared HTTPRoute: checked against its CRD (test_model_routes)
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_prod_shows_its_guard_rails_and_add_ons() -> None:
    files = rendered("prod")
    kinds = {yaml.safe_load(t)["kind"] for p, t in files.items() if p.startswith("program/llm/")}
    assert {"ResourceQuota", "LimitRange", "NetworkPolicy", "Secret"} <= kinds
    namespace = yaml.safe_load(files["program/cluster/namespace-llm.yaml"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    plugin = yaml.safe_load(
        files["program/nvidia-device-plugin/helm-release-nvidia-device-plugin.yaml"]
    )
    assert (plugin["chart"], plugin["values"]["gfd"]) == ("nvidia-device-plugin", {"enabled": True})
    keda = yaml.safe_load(files["program/keda/helm-release-keda.yaml"])
    assert keda["chart"] == "keda" and keda["version"]


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_are_names_and_keys_only(stack: str) -> None:
    secrets = [d for d in program_docs(stack) if d["kind"] == "Secret"]
    for secret in secrets:
        values = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert values and set(values.values()) == {REDACTED}, secret["metadata"]["name"]


def test_placeholders_are_labelled_where_they_appear() -> None:
    for path, text in rendered("prod").items():
        if PLACEHOLDER_DIGEST in text:
            assert text.startswith(DIGEST_NOTE) or DIGEST_NOTE in text, path
    assert PLACEHOLDER_DIGEST in rendered("prod")["tensorrt-llm/templates/deployment.yaml"]
