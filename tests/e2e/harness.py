"""Drive the real Pulumi CLI and the local control plane from tests.

The Pulumi CLI, the Kubernetes provider and the control plane are the binaries
scripts/toolchain.sh builds; scripts/e2e.sh brings the cluster up (scripts/cluster.sh)
and passes E2E_TOOLCHAIN_BIN and KUBECONFIG. Nothing is mocked.

The program runs through Pulumi's Automation API with an inline program: the CLI
(`pulumi up --client=...`) talks to a language runtime server the Python SDK starts in
this process, which runs infra/__main__.py exactly as pulumi-language-python-exec
does (runpy.run_path on the program directory, run_name __main__, cwd there).
The Go module proxy serves no version of the Python language host module
(github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), so this is the
nearest path to `pulumi up` that the real engine offers: everything but the host
binary's virtualenv handling is the real thing.

Each test suite works on a copy of the project (Pulumi.yaml, the stack files, infra/
and service/) so it can edit config and chart files without touching the checkout.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from infra.config.spot import SPOT_CONVENTIONS
from tests.tools import REPO_ROOT, toolchain_pin

PROJECT: str = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["name"]
PASSPHRASE = "e2e-passphrase-not-a-secret"
# The chart's server pods (selector labels plus the component label the helm test
# pod does not share).
SERVER_PODS = "app.kubernetes.io/instance=tensorrt-llm,app.kubernetes.io/component=inference-server"
# Every operation is bounded: kwok makes pods Ready within seconds, so a Helm wait
# that runs past this is a failure, not slowness.
COMMAND_TIMEOUT_S = 300


def toolchain_bin() -> Path:
    """The toolchain's bin directory; the suite fails (never skips) without it."""
    value = os.environ.get("E2E_TOOLCHAIN_BIN")
    if not value:
        raise RuntimeError("E2E_TOOLCHAIN_BIN is not set: run the suite with scripts/e2e.sh")
    path = Path(value)
    for exe in ("pulumi", "pulumi-resource-kubernetes", "kubectl"):
        if not (path / exe).exists():
            raise RuntimeError(f"{exe} is missing from {path}: run scripts/toolchain.sh")
    return path


def provider_version() -> str:
    """The Kubernetes provider version the toolchain pinned (and pyproject matches)."""
    return toolchain_pin("KUBERNETES_PROVIDER_VERSION")


@dataclass
class Cli:
    """The real `pulumi` binary with an isolated home, a file backend and no network."""

    bin_dir: Path
    home: Path
    backend: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": self.backend.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # Plugins come from PULUMI_HOME's cache only, never from PATH.
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "KUBECONFIG": os.environ["KUBECONFIG"],
        }

    def run(
        self, *args: str, cwd: Path, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "pulumi"), *args, "--non-interactive"],
            cwd=cwd,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            input=input_text,
            timeout=COMMAND_TIMEOUT_S,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def install_provider(self) -> None:
        """Fill the plugin cache with the toolchain's provider, at its exact version."""
        version = provider_version()
        self.run(
            "plugin",
            "install",
            "resource",
            "kubernetes",
            f"v{version}",
            "--file",
            str(self.bin_dir / "pulumi-resource-kubernetes"),
            cwd=self.home,
        )


def copy_project(dest: Path) -> Path:
    """The Pulumi project's files, copied so tests may edit config and chart."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in REPO_ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, dest / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("infra", "service"):
        shutil.copytree(REPO_ROOT / package, dest / package, ignore=ignore)
    return dest


def _forget_project_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in ("infra", "service", "__main__infra"):
            del sys.modules[name]


def program_of(project_dir: Path) -> Callable[[], None]:
    """The project's Pulumi program as pulumi-language-python-exec runs it: the program
    directory (Pulumi.yaml's `main`) run as __main__ with the working directory there,
    as the engine also gives the providers, and the copy's packages imported.

    The program's outputs resolve after this function returns, so the working
    directory and imports stay as set until the operation ends (see `in_program_dir`).
    """
    main = project_dir / yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["main"]

    def run() -> None:
        _forget_project_modules()
        os.chdir(main)
        sys.path.insert(0, str(project_dir))
        runpy.run_path(str(main), run_name="__main__")

    return run


@contextmanager
def in_program_dir() -> Iterator[None]:
    """Restores the working directory, sys.path and modules after an operation."""
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        _forget_project_modules()


class Stack:
    """One stack of a project copy, created from its Pulumi.<stack>.yaml if present."""

    def __init__(self, cli: Cli, project_dir: Path, name: str) -> None:
        self.cli = cli
        self.project_dir = project_dir
        self.name = name
        self._stack = auto.create_or_select_stack(
            stack_name=name,
            project_name=PROJECT,
            program=program_of(project_dir),
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(project_dir),
                pulumi_home=str(cli.home),
                env_vars=cli.env,
                secrets_provider="passphrase",
            ),
        )

    @property
    def stack_file(self) -> Path:
        return self.project_dir / f"Pulumi.{self.name}.yaml"

    # --- config ---------------------------------------------------------------------

    def set(self, key: str, value: str, *, secret: bool = False) -> None:
        """`pulumi config set [--secret] KEY VALUE`, as an operator types it."""
        args = ["config", "set", "--stack", self.name, key, value]
        self.cli.run(*args, *(["--secret"] if secret else []), cwd=self.project_dir)

    def set_object(self, key: str, value: Mapping[str, Any]) -> None:
        """Replace a whole object key in the stack file (what an editor does)."""
        data = yaml.safe_load(self.stack_file.read_text()) or {}
        data.setdefault("config", {})[f"{PROJECT}:{key}"] = dict(value)
        self.stack_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def remove(self, key: str) -> None:
        self.cli.run("config", "rm", "--stack", self.name, key, cwd=self.project_dir, check=False)

    # --- operations -----------------------------------------------------------------

    def up(self) -> auto.UpResult:
        with in_program_dir():
            return self._stack.up(color="never")

    def preview(self) -> auto.PreviewResult:
        with in_program_dir():
            return self._stack.preview(diff=True, color="never")

    def destroy(self) -> None:
        self._stack.destroy(color="never")

    def outputs(self) -> dict[str, auto.OutputValue]:
        return self._stack.outputs()

    def export(self) -> str:
        return self.cli.run("stack", "export", "--stack", self.name, cwd=self.project_dir).stdout

    def output_text(self) -> str:
        return self.cli.run("stack", "output", "--stack", self.name, cwd=self.project_dir).stdout

    def remove_stack(self) -> None:
        self._stack.workspace.remove_stack(self.name)


def error_text(error: auto.errors.CommandError) -> str:
    """The failed command's code, stdout and stderr, as the Automation API reports them."""
    return str(error)


# --- kubectl ------------------------------------------------------------------------


def kubectl_run(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(toolchain_bin() / "kubectl"), *args],
        capture_output=True,
        text=True,
        input=input_text,
        timeout=COMMAND_TIMEOUT_S,
    )


def kubectl(*args: str, input_text: str | None = None) -> str:
    result = kubectl_run(*args, input_text=input_text)
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def install_crds(crds: list[dict[str, Any]]) -> None:
    """Apply CRDs server-side and wait until the API server serves their kinds."""
    items = {"apiVersion": "v1", "kind": "List", "items": crds}
    kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(items))
    for crd in crds:
        kubectl("wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}")


def kube_get(kind: str, namespace: str | None = None, name: str = "", **flags: str) -> Any:
    """`kubectl get -o json`: one object by name, or a list's items."""
    args = ["get", kind, "-o", "json"]
    if name:
        args.insert(2, name)
    if namespace:
        args += ["--namespace", namespace]
    for key, value in flags.items():
        args.append(f"--{key.replace('_', '-')}={value}")
    data = json.loads(kubectl(*args))
    return data if name else data["items"]


def kube_exists(kind: str, name: str, namespace: str | None = None) -> bool:
    args = ["get", kind, name, "--ignore-not-found", "-o", "name"]
    if namespace:
        args += ["--namespace", namespace]
    return bool(kubectl(*args).strip())


def wait_until(
    what: str, condition: Callable[[], Any], timeout_s: float = 120, interval_s: float = 1
) -> Any:
    """Polls condition until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


@contextmanager
def deployed(stack: Stack) -> Iterator[Stack]:
    """A stack that is up for the block and destroyed (and removed) after it."""
    try:
        yield stack
    finally:
        try:
            stack.destroy()
        finally:
            stack.remove_stack()


def set_prod_secrets(stack: Stack, tag: str) -> None:
    """The secrets a prod-like stack requires, set as users do (config set --secret)."""
    stack.set("registryPassword", "e2e-registry-password", secret=True)
    stack.set("apiKeys", f"e2e-{tag}-key", secret=True)
    stack.set("hfToken", f"hf_e2e{tag.capitalize()}Token", secret=True)


# --- spot nodes -----------------------------------------------------------------------

# Fake spot GPU nodes a test adds next to the cluster's on-demand ones (scripts/cluster.sh).
SPOT_NODES = ("gpu-spot-0", "gpu-spot-1")


def spot_node(name: str, provider: str, node_selector: Mapping[str, str]) -> dict[str, Any]:
    """A fake 8-GPU node with the stack's GPU labels, marked as `provider` marks spot nodes."""
    convention = SPOT_CONVENTIONS[provider]
    key, value = convention.labels[0]
    resources = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
                "nvidia.com/gpu.present": "true",
                **node_selector,
                key: value,
            },
        },
        "spec": {
            "taints": [{"key": k, "value": v, "effect": "NoSchedule"} for k, v in convention.taints]
        },
        "status": {"capacity": resources, "allocatable": resources},
    }


def add_spot_nodes(provider: str, node_selector: Mapping[str, str]) -> None:
    nodes = [spot_node(name, provider, node_selector) for name in SPOT_NODES]
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})
    kubectl("apply", "-f", "-", input_text=listed)
    for name in SPOT_NODES:
        kubectl("wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s")


def delete_spot_nodes() -> None:
    kubectl("delete", "node", *SPOT_NODES, "--ignore-not-found", "--wait=true")


@contextmanager
def spot_nodes(provider: str, node_selector: Mapping[str, str]) -> Iterator[None]:
    """The fake spot nodes for the block, removed after it."""
    add_spot_nodes(provider, node_selector)
    try:
        yield
    finally:
        delete_spot_nodes()
