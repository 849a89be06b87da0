"""The image agrees with the chart, the server's settings and pyproject.toml.

Each fact (uid, port, entrypoint, cache path, setting names, versions) has one owner;
these tests fail when the Dockerfile drifts from it.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
import typing
from functools import cache
from typing import Any

import pytest
import yaml

from service.settings import ENV_VARS, Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

from tests.image.dockerfile import REPO_ROOT, Dockerfile, Stage, dockerignore_patterns, parse

CHART = REPO_ROOT / "infra" / "charts" / "tensorrt-llm"
TARGETS = ("runtime", "cpu")
UID = GID = 1000
USER_NAME = "trtllm"
HOME = "/home/trtllm"

# Where TensorRT-LLM's dependencies write what they compile at run time (the list
# upstream's tensorrt_llm/_bootstrap.py roots under one cache directory). Each must
# point at a writable volume: the container's root filesystem is read-only.
JIT_CACHE_ENV = frozenset(
    {
        "TRITON_CACHE_DIR",
        "TORCHINDUCTOR_CACHE_DIR",
        "TORCH_EXTENSIONS_DIR",
        "FLASHINFER_WORKSPACE_BASE",
        "CUTE_DSL_CACHE_DIR",
        "DG_JIT_CACHE_DIR",
        "CUDA_CACHE_PATH",
    }
)
# What OpenMPI needs to spawn tensor-parallel ranks in a restricted pod: no ptrace
# (single-copy off, Open MPI 4 and 5 names) and more ranks than CPUs (4, then PRTE/5).
MPI_ENV = {
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_btl_sm_single_copy_mechanism": "none",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "PRTE_MCA_rmaps_default_mapping_policy": ":oversubscribe",
}
# Variables the image sets for something other than the server's Settings. Anything
# else in ENV must be a Settings variable, so a typo (MAX_TOKEN) cannot hide here.
IMAGE_ONLY_ENV = (
    frozenset(
        {
            "PATH",
            "HOME",
            "HF_HOME",
            "PYTHONUNBUFFERED",
            "PYTHONDONTWRITEBYTECODE",
            "DEBIAN_FRONTEND",
        }
    )
    | JIT_CACHE_ENV
    | frozenset(MPI_ENV)
)
TRTLLM_RELEASE_IMAGE = "nvcr.io/nvidia/tensorrt-llm/release"
BUILD_TOOLS = re.compile(r"^(build-essential|gcc.*|g\+\+.*|clang.*|make|cmake|.*-dev|git)$")


@cache
def dockerfile() -> Dockerfile:
    return parse()


@cache
def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def chart_pod_spec(model_cache: bool | None = None) -> dict[str, Any]:
    """The server pod as the chart renders it (defaults, or the model cache on or off)."""
    values = {} if model_cache is None else {"modelCache": {"enabled": model_cache}}
    return _rendered_pod_spec(yaml.safe_dump(values))


@cache
def _rendered_pod_spec(values_yaml: str) -> dict[str, Any]:
    helm_python = pytest.importorskip("helm_python")
    values = yaml.safe_load(values_yaml)
    with helm_python.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values=values, name="image-check", namespace="image-check")
    for path, text in rendered.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") == "Deployment":
                return doc["spec"]["template"]["spec"]
    raise AssertionError("the chart renders no Deployment")


def server_container() -> dict[str, Any]:
    return chart_pod_spec()["containers"][0]


@pytest.fixture(params=TARGETS)
def stage(request: pytest.FixtureRequest) -> Stage:
    return dockerfile().stage(request.param)


def test_gpu_runtime_is_the_default_target() -> None:
    # `docker build` without --target (and pulumi_docker without target) gets the GPU image.
    assert dockerfile().default_target.name == "runtime"


def test_user_is_uid_and_gid_1000_like_the_chart(stage: Stage) -> None:
    user = stage.last("USER")
    assert user is not None and user.args == f"{UID}:{GID}", f"{stage.name}: USER {user}"
    creates = " ".join(i.args for i in stage.all("RUN"))
    for expected in (f"--uid {UID}", f"--gid {GID}", f"--home-dir {HOME}", USER_NAME):
        assert expected in creates, f"{stage.name}: user creation lacks {expected!r}"
    pod = chart_pod_spec()["securityContext"]
    container = server_container().get("securityContext", {})
    assert pod["runAsUser"] == UID and pod["runAsGroup"] == GID, pod
    assert container.get("runAsUser", UID) == UID and container.get("runAsGroup", GID) == GID


def test_home_workdir_and_model_cache_match_the_chart_mount(stage: Stage) -> None:
    env = stage.env
    workdir = stage.last("WORKDIR")
    assert env["HOME"] == HOME and workdir is not None and workdir.args == HOME
    mount_path = chart_values()["modelCache"]["mountPath"]
    mounted = {m["mountPath"] for m in server_container()["volumeMounts"]}
    assert mount_path in mounted, f"chart does not mount modelCache.mountPath {mount_path}"
    # The Hugging Face cache (and compiled kernels) must land on the cache volume.
    assert env["HF_HOME"].startswith(mount_path + "/"), (env["HF_HOME"], mount_path)
    assert mount_path.startswith(HOME + "/")


def test_port_matches_settings_and_chart(stage: Stage) -> None:
    exposed = stage.last("EXPOSE")
    assert exposed is not None
    port = int(exposed.args.split("/")[0])
    assert port == Settings.model_fields["port"].default
    assert "PORT" not in stage.env, "the port default lives in Settings, not in the image"
    assert port == chart_values()["service"]["port"]
    assert [p["containerPort"] for p in server_container()["ports"]] == [port]


def test_entrypoint_runs_the_service_module_from_the_venv(stage: Stage) -> None:
    assert stage.exec_form("ENTRYPOINT") == ["python", "-m", "service"]
    assert stage.env["PATH"].startswith("/opt/venv/bin:"), "python must resolve to the venv"
    assert (REPO_ROOT / "service" / "__main__.py").is_file()


def test_env_names_are_settings_or_documented_image_variables(stage: Stage) -> None:
    env = stage.env
    unknown = sorted(set(env) - ENV_VARS - IMAGE_ONLY_ENV)
    assert unknown == [], f"{stage.name}: ENV names neither in Settings nor image-only: {unknown}"
    assert env["HOST"] == "0.0.0.0", "the image must listen on every interface"
    engines = typing.get_args(Settings.model_fields["engine"].annotation)
    assert env["ENGINE"] in engines, f"ENGINE={env['ENGINE']} is not one of {engines}"


def test_gpu_image_is_nvidias_release_image_of_the_pinned_version() -> None:
    """The environment upstream tests: `import tensorrt_llm` works there (libpython is
    present), its kernels can JIT-compile (CUDA toolkit) and its mpi4py matches its
    OpenMPI. A bare CUDA runtime base has none of the three."""
    args = dockerfile().global_args
    assert args["TRTLLM_IMAGE"] == TRTLLM_RELEASE_IMAGE
    for name in ("gpu-build", "runtime"):
        base = dockerfile().stage(name).base
        assert base == "${TRTLLM_IMAGE}:${TRTLLM_VERSION}", f"{name} is built FROM {base}"


def test_gpu_venv_adds_the_server_without_replacing_base_packages() -> None:
    build = dockerfile().stage("gpu-build")
    runs = " ".join(i.args for i in build.all("RUN"))
    assert "-m venv --system-site-packages /opt/venv" in runs
    assert "pip list --format=freeze >/opt/image-packages.txt" in runs
    installs = [i.args for i in build.all("RUN") if "pip install" in i.args]
    assert installs and all("--constraint /opt/image-packages.txt" in i for i in installs)
    # Nothing the base image owns is named: mpi4py stays the one built for its OpenMPI.
    for package in ("mpi4py", "tensorrt-llm==", "torch=="):
        assert package not in runs, f"gpu-build installs {package} over the base image"


def test_mpi_can_spawn_ranks_in_a_restricted_pod() -> None:
    env = dockerfile().stage("runtime").env
    assert {name: env.get(name) for name in MPI_ENV} == MPI_ENV


@pytest.mark.parametrize("model_cache", [True, False])
def test_every_jit_cache_is_on_a_writable_volume(model_cache: bool) -> None:
    env = dockerfile().stage("runtime").env
    assert set(env) >= JIT_CACHE_ENV, sorted(JIT_CACHE_ENV - set(env))
    container = chart_pod_spec(model_cache)["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
    for name in sorted(JIT_CACHE_ENV):
        assert any(env[name].startswith(path + "/") for path in writable), (
            f"{name}={env[name]} is on the read-only root filesystem "
            f"(modelCache.enabled={model_cache}; writable mounts {writable})"
        )


def test_gpu_set_is_never_baked_in() -> None:
    for stage in dockerfile().stages.values():
        for instruction in stage.instructions:
            assert "CUDA_VISIBLE_DEVICES" not in instruction.args, instruction
            assert "NVIDIA_VISIBLE_DEVICES" not in instruction.args, instruction


def test_final_stages_install_no_build_tools(stage: Stage) -> None:
    for run in stage.all("RUN"):
        words = shlex.split(run.args.replace("\\", " "))
        if "install" in words and "apt-get" in words:
            packages = [w for w in words[words.index("install") + 1 :] if not w.startswith("-")]
            packages = packages[: next((i for i, w in enumerate(packages) if w == "&&"), None)]
            tools = [p for p in packages if BUILD_TOOLS.match(p)]
            assert tools == [], f"{stage.name} line {run.line} installs build tools {tools}"
    copied_from = {
        i.args.split()[0].removeprefix("--from=") for i in stage.all("COPY") if "--from=" in i.args
    }
    assert copied_from == {"gpu-build" if stage.name == "runtime" else "cpu-build"}


def test_versions_and_project_name_match_pyproject() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = project["optional-dependencies"]["tensorrt-llm"]
    assert f"tensorrt-llm=={dockerfile().global_args['TRTLLM_VERSION']}" in pins, pins
    runs = " ".join(i.args for s in dockerfile().stages.values() for i in s.all("RUN"))
    assert f"{project['name']}[" in runs, "the image must install this project's wheel"


def test_build_context_allowlist_covers_every_copy_source() -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", "the context must be an allowlist (venvs, .git stay out)"
    included = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    for stage in dockerfile().stages.values():
        for copy in stage.all("COPY"):
            if "--from=" in copy.args:
                continue
            for source in copy.args.split()[:-1]:
                assert source.rstrip("/") in included, f"COPY {source} is excluded by .dockerignore"
    assert {"pyproject.toml", "service"} <= included


def test_healthcheck_uses_the_standard_library_only(stage: Stage) -> None:
    command = stage.exec_form("HEALTHCHECK")
    assert command[:2] == ["python", "-c"], command
    tree = ast.parse(command[2])
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported and imported <= set(sys.stdlib_module_names), imported
    assert "/health/ready" in command[2]
