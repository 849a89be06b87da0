"""The dev stack, deployed by the real CLI onto the local control plane, then destroyed.

Tests run in file order: up (fixture), what the cluster then holds, admission,
secrets in state, destroy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import (
    PASSPHRASE,
    SERVER_PODS,
    Cli,
    Stack,
    kube_exists,
    kube_get,
    kubectl_run,
    wait_until,
)

IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server@sha256:" + "1d" * 32
API_KEYS = "e2e-api-key-one,e2e-api-key-two"
HF_TOKEN = "hf_e2eTokenThatMustNeverBeInState"


def dev_stack_file(project_dir: Path) -> dict:
    return yaml.safe_load((project_dir / "Pulumi.dev.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def dev(cli: Cli, project_dir: Path) -> Iterator[Stack]:
    stack = Stack(cli, project_dir, "dev")
    # A fixed reference instead of building the image: pulumi-docker has no offline build.
    stack.set_object("image", {"ref": IMAGE_REF})
    stack.set("apiKeys", API_KEYS, secret=True)
    stack.set("hfToken", HF_TOKEN, secret=True)
    stack.up()
    yield stack
    # test_destroy_leaves_nothing destroys it; this only cleans up after a failure.
    if stack.outputs():
        stack.destroy()


@pytest.fixture(scope="module")
def namespace(project_dir: Path) -> str:
    return dev_stack_file(project_dir)["tensorrt-llm:namespace"]


def test_stack_outputs_name_the_release(dev: Stack, namespace: str) -> None:
    outputs = {key: value.value for key, value in dev.outputs().items()}
    assert outputs["namespace"] == namespace
    assert outputs["releaseName"] == "tensorrt-llm"
    assert outputs["releaseStatus"] == "deployed"
    assert outputs["imageRef"] == IMAGE_REF
    service = kube_get("service", namespace, "tensorrt-llm")
    port = service["spec"]["ports"][0]["port"]
    assert outputs["serviceUrl"] == f"http://tensorrt-llm.{namespace}.svc.cluster.local:{port}"
    assert outputs["portForwardCommand"] == (
        f"kubectl --namespace {namespace} port-forward service/tensorrt-llm {port}:{port}"
    )


def test_namespace_enforces_restricted_pod_security(dev: Stack, namespace: str) -> None:
    labels = kube_get("namespace", name=namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_quota_and_limit_range_hold_the_stack_values(
    dev: Stack, project_dir: Path, namespace: str
) -> None:
    quota = dev_stack_file(project_dir)["tensorrt-llm:quota"]
    hard = kube_get("resourcequota", namespace, "server-quota")["spec"]["hard"]
    assert hard["requests.cpu"] == quota["cpu"]
    assert hard["requests.memory"] == quota["memory"]
    assert hard["pods"] == str(quota["pods"])
    limits = kube_get("limitrange", namespace, "container-defaults")["spec"]["limits"]
    assert any(item["type"] == "Container" and item.get("defaultRequest") for item in limits)


def test_network_policies_deny_by_default(dev: Stack, namespace: str) -> None:
    policies = {item["metadata"]["name"]: item for item in kube_get("networkpolicy", namespace)}
    assert "default-deny" in policies, sorted(policies)
    assert policies["default-deny"]["spec"]["podSelector"] == {}
    assert sorted(policies["default-deny"]["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "allow-dns-egress" in policies, sorted(policies)


def test_secrets_hold_the_configured_values(dev: Stack, namespace: str) -> None:
    api_keys = kube_get("secret", namespace, "tensorrt-llm-api-keys")
    assert base64.b64decode(api_keys["data"]["API_KEYS"]).decode() == API_KEYS
    hf_token = kube_get("secret", namespace, "tensorrt-llm-hf-token")
    assert base64.b64decode(hf_token["data"]["HF_TOKEN"]).decode() == HF_TOKEN


def test_helm_release_is_deployed(dev: Stack, namespace: str) -> None:
    releases = kube_get("secret", namespace, selector="owner=helm,name=tensorrt-llm")
    assert releases, "no Helm release secret in the namespace"
    latest = max(releases, key=lambda item: int(item["metadata"]["labels"]["version"]))
    assert latest["type"] == "helm.sh/release.v1"
    assert latest["metadata"]["labels"]["status"] == "deployed"


def test_server_pods_were_admitted_and_are_ready(
    dev: Stack, project_dir: Path, namespace: str
) -> None:
    replicas = int(dev_stack_file(project_dir)["tensorrt-llm:replicas"])
    deployment = kube_get("deployment", namespace, "tensorrt-llm")
    assert deployment["status"].get("readyReplicas") == replicas, deployment["status"]
    pods = kube_get("pod", namespace, selector=SERVER_PODS)
    assert len(pods) == replicas
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready.get("Ready") == "True", (pod["metadata"]["name"], pod["status"])
        # Placed by the real scheduler on one of the fake nodes.
        assert pod["spec"]["nodeName"] in {"cpu-node-0", "gpu-node-0", "gpu-node-1"}
        assert pod["spec"]["containers"][0]["image"] == IMAGE_REF


def test_privileged_pod_is_refused_by_pod_security(dev: Stack, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-privileged", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "shell",
                    "image": "busybox:1.36",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    result = kubectl_run("apply", "-f", "-", input_text=json.dumps(pod))
    assert result.returncode != 0, result.stdout
    assert 'violates PodSecurity "restricted:' in result.stderr, result.stderr
    assert "privileged" in result.stderr
    assert not kube_exists("pod", "e2e-privileged", namespace)


def test_state_and_outputs_hold_no_plaintext_secret(dev: Stack) -> None:
    state = dev.export()
    for secret in (*API_KEYS.split(","), HF_TOKEN, PASSPHRASE):
        assert secret not in state
    # The Secrets' data are in state, encrypted: the provider marks them secret.
    assert "4dabf18193072939515e22adb298388d" in state  # Pulumi's secret signature
    outputs = dev.output_text()
    for secret in (*API_KEYS.split(","), HF_TOKEN):
        assert secret not in outputs
    shown = dev.cli.run(
        "stack", "output", "--stack", dev.name, "--json", cwd=dev.project_dir
    ).stdout
    assert all(secret not in shown for secret in (*API_KEYS.split(","), HF_TOKEN))


def test_destroy_leaves_nothing(dev: Stack, namespace: str) -> None:
    dev.destroy()
    assert not dev.outputs()
    wait_until(
        f"namespace {namespace} to be deleted",
        lambda: not kube_exists("namespace", namespace),
        timeout_s=120,
    )
    leftovers = kube_get("secret", selector="owner=helm,name=tensorrt-llm", all_namespaces="true")
    assert leftovers == []
