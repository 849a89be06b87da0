"""The GitHub workflows lint clean and keep to the repository's deployment rules."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import stack_names
from infra.release import release_timeout_seconds
from infra.stack import load_stack
from tests.tools import REPO_ROOT, actionlint_bin, complaints, shellcheck_bin

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
# A release tag (v4, v4.2.1) or a full commit SHA; never a branch such as main.
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


@cache
def workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    return doc.get("on") or doc[True]


def stacks() -> list[str]:
    return stack_names()


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "preview.yml", "deploy.yml"}


def test_actionlint_reports_nothing() -> None:
    # With shellcheck wired in, actionlint also checks every `run:` script.
    report = complaints(
        [
            actionlint_bin(),
            "-no-color",
            "-oneline",
            "-shellcheck",
            shellcheck_bin(),
            "-pyflakes",
            "",
        ]
        + [str(p) for p in WORKFLOW_FILES],
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert report == "", f"actionlint:\n{report}"


def preview_matrix() -> list[dict[str, str]]:
    return workflow("preview.yml")["jobs"]["pulumi-preview"]["strategy"]["matrix"]["include"]


def test_preview_matrix_lists_every_stack() -> None:
    assert stacks(), "no Pulumi.<stack>.yaml found at the repository root"
    listed = sorted(entry["stack"] for entry in preview_matrix())
    assert listed == stacks(), "add the new stack to preview.yml's matrix"


def test_the_prod_preview_names_the_environment_holding_its_secrets() -> None:
    # Environment secrets (KUBECONFIG_PROD, the backend's) reach only a job that
    # names the environment; without it the prod preview runs with empty secrets.
    job = workflow("preview.yml")["jobs"]["pulumi-preview"]
    assert job["environment"] == "${{ matrix.environment }}"
    environments = {entry["stack"]: entry["environment"] for entry in preview_matrix()}
    deploy_environment = workflow("deploy.yml")["jobs"]["up"]["environment"]
    assert environments["prod"] == deploy_environment == "production"


def test_preview_comments_diffs_on_pull_requests() -> None:
    doc = workflow("preview.yml")
    assert set(triggers(doc)) == {"pull_request"}, "pull_request_target would leak secrets"
    assert doc["permissions"] == {"contents": "read", "pull-requests": "write"}
    pulumi = next(
        s for s in doc["jobs"]["pulumi-preview"]["steps"] if s.get("uses", "").startswith("pulumi/")
    )
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    rendered = doc["jobs"]["rendered-manifests"]["steps"]
    assert any("scripts/render_diff.py" in s.get("run", "") for s in rendered)
    assert any(s.get("uses", "").startswith("actions/github-script@") for s in rendered)


def pulumi_command_step(job: dict[str, Any]) -> dict[str, Any]:
    return next(
        s
        for s in job["steps"]
        if s.get("uses", "").startswith("pulumi/") and "command" in s.get("with", {})
    )


def test_deploy_runs_up_on_prod_behind_the_production_environment() -> None:
    doc = workflow("deploy.yml")
    assert triggers(doc)["push"]["branches"] == ["main"]
    assert doc["permissions"] == {"contents": "read"}
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert doc["jobs"]["image"]["needs"] == "test"
    job = doc["jobs"]["up"]
    assert job["environment"] == "production" and job["needs"] == "image"
    pulumi = pulumi_command_step(job)
    assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == "prod"


def test_the_image_is_built_in_its_own_job_and_deployed_by_digest() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    build = next(s for s in jobs["image"]["steps"] if s.get("uses", "").startswith("docker/build"))
    assert build["with"]["file"] == "service/Dockerfile" and build["with"]["push"] is True
    assert jobs["image"]["outputs"]["ref"] == "${{ steps.result.outputs.ref }}"
    # The up job sets image.ref before `pulumi up`, so the program never builds there.
    steps = jobs["up"]["steps"]
    set_ref = next(i for i, s in enumerate(steps) if "--path image.ref" in s.get("run", ""))
    assert steps[set_ref]["env"]["IMAGE_REF"] == "${{ needs.image.outputs.ref }}"
    assert set_ref < steps.index(pulumi_command_step(jobs["up"]))


def test_deploy_timeouts_nest_so_helm_fails_before_the_runner_kills_pulumi() -> None:
    # A `pulumi up` killed by a step or job timeout leaves pending operations in the
    # state; Helm's own wait must give up first, and the job must outlast its steps.
    helm_wait = release_timeout_seconds(load_stack("prod"))
    job = workflow("deploy.yml")["jobs"]["up"]
    up_step = pulumi_command_step(job)
    assert up_step["timeout-minutes"] * 60 >= helm_wait + 10 * 60, "room for the other resources"
    step_minutes = sum(s.get("timeout-minutes", 0) for s in job["steps"])
    assert job["timeout-minutes"] >= step_minutes + 5, "the job must outlast its steps"


def test_the_deploy_verifies_the_rollout_after_up() -> None:
    steps = workflow("deploy.yml")["jobs"]["up"]["steps"]
    verify = next(i for i, s in enumerate(steps) if "kubectl rollout status" in s.get("run", ""))
    assert verify > steps.index(pulumi_command_step(workflow("deploy.yml")["jobs"]["up"]))


def test_ci_runs_the_readme_test_command() -> None:
    steps = workflow("ci.yml")["jobs"]["test"]["steps"]
    assert any(s.get("run") == "bash .ci/run" for s in steps)
    assert workflow("ci.yml")["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_release(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED_ACTION.match(step["uses"]), f"{path.name}: {step['uses']}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_secrets_reach_steps_only_through_env(path: Path) -> None:
    # ${{ secrets.X }} pasted into a `run:` script lands in the script text (and in
    # logs if echoed); env: keeps it masked and out of the command line.
    doc = yaml.safe_load(path.read_text())
    for job in doc["jobs"].values():
        for step in job["steps"]:
            assert "secrets." not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_every_repository_secret_is_documented_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    used: set[str] = set()
    for path in WORKFLOW_FILES:
        text = path.read_text()
        used |= set(re.findall(r"secrets\.([A-Z0-9_]+)", text))
        # secrets[format('KUBECONFIG_{0}', matrix.cluster)]: one secret per cluster.
        for prefix in re.findall(r"secrets\[format\('([A-Z0-9_]+)\{0\}'", text):
            used |= {prefix + entry["cluster"].upper() for entry in preview_matrix()}
    undocumented = sorted(s for s in used - {"GITHUB_TOKEN"} if f"`{s}`" not in readme)
    assert used and undocumented == [], f"README does not document secrets {undocumented}"
