"""The model cache prefill: a Job the program applies before the Release, named by model."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.chart import prefill_pod_labels, selector_labels
from infra.config import StackConfig
from infra.model_cache import CLAIM_TEMPLATE, JOB_TEMPLATE, prefill_manifests
from infra.stack import load_stack
from infra.values import offline_image_ref, render_stack
from tests.chart.pod_security import violations
from tests.infra.harness import assert_refused, assert_runs, run_program, stack_with
from tests.infra.test_model_profiles import PROFILE, REVISION

JOB = "kubernetes:batch/v1:Job"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
RELEASE = "kubernetes:helm.sh/v3:Release"
PROD_CACHE = load_stack("prod").model_cache.model_dump(by_alias=True, exclude_none=True)
PREFILL = {**PROFILE, "modelCache": {**PROD_CACHE, "prefill": True}}
HF_TOKEN = {"hfToken": "hf_test_token"}


def prefilled(**model: Any) -> StackConfig:
    prod = load_stack("prod")
    return prod.model_copy(
        update={
            "model": prod.model.model_copy(
                update={"path": "org/model", "revision": REVISION, **model}
            ),
            "model_cache": prod.model_cache.model_copy(update={"prefill": True}),
        }
    )


def job_of(config: StackConfig, image_ref: str | None = None) -> dict[str, Any]:
    return prefill_manifests(config, image_ref or offline_image_ref(config))[JOB_TEMPLATE]


@pytest.fixture(scope="module")
def run() -> Any:
    return assert_runs(stack_with("prod", PREFILL, secrets=HF_TOKEN))


def test_the_release_waits_for_the_job_and_the_job_for_its_claim_and_token(run: Any) -> None:
    job = run.one(JOB, "model-cache-job")
    claim = run.one(CLAIM, "model-cache-claim")
    token = run.one("kubernetes:core/v1:Secret", "server-secrets-hf-token")
    release = run.one(RELEASE, "server-release")
    assert job.urn in release.dependencies, release.urn
    assert {claim.urn, token.urn} <= set(job.dependencies), job.urn


def test_the_job_mounts_the_claim_the_server_mounts_and_reads_the_token(run: Any) -> None:
    job = run.one(JOB, "model-cache-job").plain_all()
    claim = run.one(CLAIM, "model-cache-claim").plain_all()
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    claim_name = claim["metadata"]["name"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim_name}} in (
        pod["volumes"]
    )
    env = {e["name"]: e for e in container["env"]}
    token = {"secretName": "tensorrt-llm-hf-token", "items": [{"key": "HF_TOKEN", "path": "token"}]}
    assert {"name": "hf-token", "secret": token} in pod["volumes"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["HF_TOKEN_PATH"]["value"] == mounts["hf-token"] + "/token"
    assert "HF_TOKEN" not in env
    assert env["MODEL_REVISION"]["value"] == REVISION
    assert container["command"] == ["python", "-m", "service.model_files"]
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == load_stack("prod").model_load_timeout_seconds

    # The release mounts that claim and no longer creates it; its pods start offline.
    manifests = render_stack(prefilled())
    assert CLAIM_TEMPLATE not in manifests
    deployment = yaml.safe_load(manifests["tensorrt-llm/templates/deployment.yaml"])
    spec = deployment["spec"]["template"]["spec"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim_name}} in (
        spec["volumes"]
    )
    server_env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert server_env["HF_HUB_OFFLINE"] == "1"


def assert_restricted_cache_job(job: dict[str, Any]) -> None:
    """A valid Job whose pod passes Pod Security restricted and is no server pod."""
    kubernetes_validate.validate(job, "1.31", strict=True)
    template = job["spec"]["template"]
    assert violations(template["metadata"], template["spec"]) == []
    assert template["spec"]["automountServiceAccountToken"] is False
    # Not a server pod: the Service, the PDB and the Deployment never select it.
    labels = template["metadata"]["labels"]
    assert not set(selector_labels("tensorrt-llm").items()) <= set(labels.items())


def test_the_job_is_valid_and_passes_pod_security_restricted() -> None:
    assert_restricted_cache_job(job_of(prefilled()))


def test_only_the_job_pod_reaches_the_model_hub(run: Any) -> None:
    policy = run.one(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "server-namespace-allow-model-hub-egress"
    ).plain_all()
    assert policy["spec"]["podSelector"]["matchLabels"] == prefill_pod_labels("tensorrt-llm")
    assert policy["spec"]["egress"][0]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_job_name_changes_with_path_or_revision_and_nothing_else() -> None:
    name = job_of(prefilled())["metadata"]["name"]
    assert name.startswith("tensorrt-llm-prefill-")
    assert job_of(prefilled())["metadata"]["name"] == name
    assert (
        job_of(prefilled(), "registry.example.com/s@sha256:" + "1" * 64)["metadata"]["name"] == name
    )
    bigger = prefilled().model_copy(update={"replicas": 3, "tensor_parallel_size": 4})
    assert job_of(bigger)["metadata"]["name"] == name
    assert job_of(prefilled(revision="f" * 40))["metadata"]["name"] != name
    assert job_of(prefilled(path="org/other"))["metadata"]["name"] != name


def test_without_prefill_there_is_no_job_and_pods_may_download() -> None:
    run = run_program(*stack_with("prod", PROFILE))
    assert run.error is None, str(run.error)
    assert run.of_type(JOB) == [] and run.of_type(CLAIM) == []
    manifests = render_stack(load_stack("prod"))
    assert CLAIM_TEMPLATE in manifests
    assert "HF_HUB_OFFLINE" not in manifests["tensorrt-llm/templates/deployment.yaml"]
    assert JOB_TEMPLATE not in manifests


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "no revision": (
        {"model": {k: v for k, v in PROFILE["model"].items() if k != "revision"}},
        "model.revision: required with modelCache.prefill",
    ),
    "emptyDir cache": (
        {"modelCache": {"type": "emptyDir", "prefill": True}},
        "modelCache.prefill: needs modelCache.enabled and type pvc",
    ),
    "local directory": (
        {"model": {**PROFILE["model"], "path": "/models/llama"}},
        "model.path: /models/llama is a directory; modelCache.prefill downloads a hub model id",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_prefill_rules_name_the_key(case: str) -> None:
    changes, line = REFUSED[case]
    assert_refused(stack_with("prod", {**PREFILL, **changes}), line)


def test_prefill_with_the_simulated_engine_is_refused() -> None:
    assert_refused(
        stack_with("dev", {"modelCache": {"type": "pvc", "prefill": True}}),
        "modelCache.prefill: the simulated engine loads no model",
    )


def test_a_prefilled_cache_needs_only_the_load_budget() -> None:
    # 600 s cannot download 66 GiB (refused without prefill) but can load it from the cache.
    run = run_program(*stack_with("prod", {**PREFILL, "modelLoadTimeoutSeconds": "600"}))
    assert run.error is None, str(run.error)
    job = run.one(JOB, "model-cache-job").plain_all()
    assert job["spec"]["activeDeadlineSeconds"] == 600
