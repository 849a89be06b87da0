"""The multi-node launcher (service/multinode.py): one model instance over an LWS group.

The leader's mpirun starts tensor x pipeline ranks over the group's pods, each running
upstream's trtllm-llmapi-launch (docs/tensorrt-llm-api.md); the engine's side of that
launch is tested with the other TensorRT-LLM engine tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service import multinode

GROUP_ENV = {
    "LWS_LEADER_ADDRESS": "tensorrt-llm-group-3.tensorrt-llm-group.llm-405b",
    "LWS_GROUP_SIZE": "2",
    "TENSOR_PARALLEL_SIZE": "8",
    "PIPELINE_PARALLEL_SIZE": "2",
    "MPI_SSH_PORT": "2222",
    "MPI_SSH_KEY_FILE": "/etc/tensorrt-llm/mpi-ssh/id_ecdsa",
}


# --- the launcher ---------------------------------------------------------------------


def test_the_leader_finds_its_workers_by_the_lws_naming() -> None:
    group = multinode.Group.from_env(GROUP_ENV)
    assert group.workers == ["tensorrt-llm-group-3-1.tensorrt-llm-group.llm-405b"]
    assert (group.ranks, group.slots) == (16, 8)


def test_mpirun_puts_rank_0_on_the_leader_and_forwards_the_server_env() -> None:
    group = multinode.Group.from_env(GROUP_ENV)
    env = {
        **GROUP_ENV,
        "ENGINE": "tensorrt-llm",
        "HF_HOME": "/cache/huggingface",
        "API_KEYS": "secret",
        "OMPI_COMM_WORLD_RANK": "0",
    }
    argv = multinode.mpirun_argv(group, env, "tensorrt-llm-group-3", Path("/tmp/k"))
    assert argv[:5] == [
        "mpirun",
        "-np",
        "16",
        "--host",
        "tensorrt-llm-group-3:8,tensorrt-llm-group-3-1.tensorrt-llm-group.llm-405b:8",
    ]
    rsh = argv[argv.index("plm_rsh_args") + 1]
    assert "-p 2222" in rsh and "-i /tmp/k" in rsh
    forwarded = {argv[i + 1] for i, arg in enumerate(argv) if arg == "-x"}
    assert {"ENGINE", "HF_HOME", "TENSOR_PARALLEL_SIZE"} <= forwarded
    # Only the server needs the API keys; MPI and LWS variables describe this pod alone.
    assert not forwarded & {"API_KEYS", "OMPI_COMM_WORLD_RANK", "LWS_LEADER_ADDRESS"}
    assert argv[-4:-2] == ["trtllm-llmapi-launch", argv[-3]] and argv[-2:] == ["-m", "service"]


# Pods outside a well-formed group, each refused naming the variable.
REFUSALS = {
    "ranks that do not split": (
        {"LWS_GROUP_SIZE": "3"},
        "16 ranks do not split over LWS_GROUP_SIZE=3 pods",
    ),
    "no leader": ({"LWS_LEADER_ADDRESS": ""}, "LWS_LEADER_ADDRESS: must be the leader's DNS name"),
    "port not a number": ({"MPI_SSH_PORT": "ssh"}, "MPI_SSH_PORT: must be a positive integer"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_pod_outside_a_group_is_refused_naming_the_variable(case: str) -> None:
    change, message = REFUSALS[case]
    with pytest.raises(multinode.LaunchError, match=message):
        multinode.Group.from_env({**GROUP_ENV, **change})


def test_the_leader_gives_up_on_missing_workers(tmp_path: Path) -> None:
    group = multinode.Group.from_env({**GROUP_ENV, "LWS_LEADER_ADDRESS": "leader.invalid"})
    with pytest.raises(multinode.LaunchError, match="workers never answered on port 2222"):
        multinode.wait_for_workers(group, deadline_seconds=0)


def test_the_worker_sshd_accepts_only_the_group_key(tmp_path: Path) -> None:
    config = multinode.sshd_config(2222, tmp_path)
    assert f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}" in config
    assert "PasswordAuthentication no" in config and "PermitRootLogin no" in config
    key = tmp_path / "secret-key"
    key.write_text("key")
    key.chmod(0o440)
    copy = multinode.private_key_copy(key, tmp_path / "state")
    assert copy.read_text() == "key" and copy.stat().st_mode & 0o777 == 0o600


def test_main_names_the_roles() -> None:
    assert multinode.main(["both"]) == 2
