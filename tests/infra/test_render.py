"""`python -m infra.render` for every stack: real Helm output that the chart's checks accept."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yaml

from infra import render
from infra.chart import (
    CHART_DIR,
    SERVER_PORT_NAME,
    helm_test_pod_labels,
    selector_labels,
    service_port,
)
from infra.config import StackConfig, StackFileError
from infra.config.models import releases
from infra.stack import load_stack
from infra.values import PLACEHOLDER_DIGEST, offline_image_ref, release_values, render_stack
from service.metric_names import REQUESTS_WAITING
from tests.chart.pod_security import violations
from tests.chart.rendering import Rendered, pod_templates
from tests.infra.harness import STACKS
from tests.tools import REPO_ROOT, run_tool

KUBE_VERSION = "1.31"
# Groups of custom resources: kubernetes-validate has no schema for them.
CUSTOM_GROUPS = {
    "monitoring.coreos.com",
    "keda.sh",
    "inference.networking.k8s.io",
    "gateway.networking.k8s.io",
    "leaderworkerset.x-k8s.io",
    "argoproj.io",
}


@cache
def rendered_releases(stack: str) -> dict[str, list[dict]]:
    """{release name: its objects} for each of the stack's releases of the chart."""
    found = {}
    for release in releases(load_stack(stack)):
        values = release_values(release, offline_image_ref(release.config))
        manifests = render_stack(release.config, values)
        found[release.config.release_name] = [
            doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc
        ]
    return found


def rendered(stack: str) -> list[dict]:
    return [doc for docs in rendered_releases(stack).values() for doc in docs]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("stack", STACKS)
def test_values_pass_the_chart_schema(stack: str) -> None:
    with helm_python.Chart.load(CHART_DIR) as chart:
        for release in releases(load_stack(stack)):
            chart.validate_schema(release_values(release, offline_image_ref(release.config)))


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_valid_kubernetes(stack: str) -> None:
    for doc in rendered(stack):
        if doc["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
            continue  # a CRD: kubernetes-validate has no schema for it
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_passes_pod_security_restricted(stack: str) -> None:
    pods = 0
    for where, metadata, spec in pod_templates(Rendered([("", d) for d in rendered(stack)], "")):
        pods += 1
        assert violations(metadata, spec) == [], f"{stack} {where}"
    assert pods >= 1


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_match_what_the_program_assumes(stack: str) -> None:
    """Names, labels and ports the NetworkPolicies and stack outputs rely on."""
    for release in releases(load_stack(stack)):
        _check_release_objects(
            release.config, rendered_releases(stack)[release.config.release_name]
        )


def _check_release_objects(config: StackConfig, docs: list[dict]) -> None:
    # The pods that serve: the Deployment's, or the leaders of multi-node groups.
    # The chart names a release's LeaderWorkerSet <release>-group (tensorrt-llm.multiNode.name).
    if config.multi_node:
        kind, name = "LeaderWorkerSet", f"{config.release_name}-group"
    else:
        kind, name = "Deployment", config.release_name
    (workload,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert workload["metadata"]["namespace"] == config.namespace
    if config.multi_node:
        template = workload["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
        scaled_name = workload["metadata"]["name"]
    else:
        deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
        # The autoscaler scales the spot Deployment where there is one, else the server's.
        scaled_name = f"{config.release_name}-spot" if config.spot.enabled else config.release_name
        assert scaled_name in deployments, sorted(deployments)
        workload = deployments[config.release_name]
        assert workload["spec"]["selector"]["matchLabels"] == selector_labels(config.release_name)
        template = workload["spec"]["template"]
    assert selector_labels(config.release_name).items() <= template["metadata"]["labels"].items()
    server = next(c for c in template["spec"]["containers"] if c["name"] == "server")
    assert SERVER_PORT_NAME in {p["name"] for p in server["ports"]}
    assert server["image"] == offline_image_ref(config)
    gpus = server["resources"].get("limits", {}).get(config.gpu.resource_name)
    assert gpus == (config.gpus_per_pod if config.gpu.enabled else None)
    services = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == config.release_name]
    assert len(services) == 1, "serviceUrl names a Service that the chart does not create"
    assert services[0]["spec"]["ports"][0]["port"] == service_port()
    # The helm-test NetworkPolicies select the test pod by these labels, and the
    # server pods must not carry them (or the test rule would open server to server).
    test_labels = helm_test_pod_labels(config.release_name).items()
    (test_pod,) = [
        p for p in of_kind(docs, "Pod") if "helm.sh/hook" in p["metadata"]["annotations"]
    ]
    assert test_labels <= test_pod["metadata"]["labels"].items()
    assert not test_labels <= template["metadata"]["labels"].items()
    if config.autoscaling.enabled and config.autoscaling.mode == "keda":
        (scaled,) = of_kind(docs, "ScaledObject")
        queries = [t["metadata"]["query"] for t in scaled["spec"]["triggers"]]
        assert any(REQUESTS_WAITING in q for q in queries)
        assert scaled["spec"]["scaleTargetRef"]["name"] == scaled_name
    elif config.autoscaling.enabled:
        (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
        metric_names = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if "pods" in m}
        assert REQUESTS_WAITING in metric_names


def test_prod_renders_its_production_features() -> None:
    kinds = {d["kind"] for d in rendered("prod")}
    assert {
        "ScaledObject",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
        "Ingress",
        "ServiceMonitor",
    } <= kinds


def test_built_images_get_a_placeholder_digest() -> None:
    config = load_stack("dev")
    assert offline_image_ref(config) == f"{config.image.repository}@{PLACEHOLDER_DIGEST}"


def _cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return run_tool([sys.executable, "-m", "infra.render", *args], cwd=cwd, timeout=120)


def test_cli_writes_one_file_per_template(tmp_path: Path) -> None:
    result = _cli("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml")}
    assert "tensorrt-llm/templates/deployment.yaml" in files


def test_cli_missing_stack_is_one_line_exit_2() -> None:
    result = _cli("--stack", "nosuchstack")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Pulumi.nosuchstack.yaml" in result.stderr


def _tree_with(tmp_path: Path, stack_text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.bad.yaml").write_text(stack_text)
    return tmp_path


def test_cli_invalid_stack_is_one_line_naming_every_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree_with(
        tmp_path, "config:\n  tensorrt-llm:replicas: -1\n  tensorrt-llm:engine: foo\n"
    )
    # main() reads the repository root; point it at the temporary tree instead of
    # writing a stack file that other tests would discover.
    monkeypatch.setattr(render, "load_stack", lambda stack, *_: load_stack(stack, root))
    assert render.main(["--stack", "bad"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0, err
    assert "tensorrt-llm:replicas: must be >= 1, got -1" in err
    assert "tensorrt-llm:engine: must be one of" in err


def test_unreadable_stack_file_is_a_one_line_error(tmp_path: Path) -> None:
    root = _tree_with(tmp_path, "config: [unclosed\n")
    with pytest.raises(StackFileError) as caught:
        load_stack("bad", root)
    assert "\n" not in str(caught.value) and "Pulumi.bad.yaml" in str(caught.value)


def test_invalid_stack_file_names_the_key(tmp_path: Path) -> None:
    root = _tree_with(tmp_path, "config:\n  tensorrt-llm:replicas: 0\n")
    with pytest.raises(Exception, match="tensorrt-llm:replicas: must be >= 1, got 0"):
        load_stack("bad", root)


def test_plaintext_secret_in_stack_file_is_refused(tmp_path: Path) -> None:
    root = _tree_with(
        tmp_path,
        "config:\n  tensorrt-llm:image: {repository: r.example/x}\n"
        "  tensorrt-llm:hfToken: hf_plain\n",
    )
    with pytest.raises(Exception, match="tensorrt-llm:hfToken: must be a secret"):
        load_stack("bad", root)


def test_a_secret_the_chart_generates_is_redacted_and_stable() -> None:
    # The multi-node group's SSH key is generated by the chart at install: an offline
    # render must neither show a key nor change from one run to the next.
    first, second = render.render_all("prod-405b"), render.render_all("prod-405b")
    assert first == second
    secret = first["tensorrt-llm/templates/mpi-ssh-secret.yaml"]
    assert yaml.safe_load(secret.split("\n", 1)[1])["data"] == {"id_ecdsa": render.REDACTED}
