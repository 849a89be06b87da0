"""`python -m service.multinode leader|worker`: one model instance over a LeaderWorkerSet
group (the chart runs it when parallelism.nodes > 1; docs/tensorrt-llm-api.md has the
upstream launch contract this follows).

- worker: serves sshd on an unprivileged port, accepting only the group's key, so the
  leader's mpirun can start its daemon there (as non-root, under Pod Security
  `restricted`; the Kubeflow MPI Operator runs its workers the same way).
- leader: waits until every worker's sshd answers, then replaces itself with mpirun over
  the group: tensor x pipeline ranks, one per GPU, each running `trtllm-llmapi-launch
  python -m service`. Upstream's launcher makes rank 0 the server (with the MPI session
  server beside it) and every other rank an MPI worker of the LLM API.

mpirun is the leader container's main process: when any rank dies, mpirun ends the job,
the container exits, and LWS (RecreateGroupOnPodRestart) recreates the whole group.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Set by the LeaderWorkerSet pod webhook on every pod of a group.
LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"
GROUP_SIZE_ENV = "LWS_GROUP_SIZE"
# Set by the chart (tensorrt-llm.server.envMap).
SSH_PORT_ENV = "MPI_SSH_PORT"
SSH_KEY_ENV = "MPI_SSH_KEY_FILE"
TENSOR_ENV = "TENSOR_PARALLEL_SIZE"
PIPELINE_ENV = "PIPELINE_PARALLEL_SIZE"

# Writable, per-pod (the root filesystem is read-only).
STATE_DIR = Path("/tmp/mpi-ssh")
# Longest wait for the workers' sshd; past it the leader exits and LWS recreates the group.
WORKER_WAIT_SECONDS = 900
# The ranks' environment is the leader's, except what belongs to one pod or one MPI job,
# and the API keys, which only the server (rank 0, on the leader) needs.
_NOT_FORWARDED_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "PRTE_", "SLURM_", "LWS_", "KUBERNETES_")
_NOT_FORWARDED = frozenset({"HOSTNAME", "API_KEYS", "PWD", "SHLVL", "_"})


class LaunchError(RuntimeError):
    """The pod's environment cannot describe a group; the message names the variable."""


@dataclass(frozen=True)
class Group:
    """One LWS group as the leader sees it."""

    leader_address: str
    size: int
    ranks: int
    ssh_port: int
    key_file: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Group:
        def number(name: str, default: str | None = None) -> int:
            text = env.get(name, default)
            if text is None or not text.isdigit() or int(text) < 1:
                raise LaunchError(f"{name}: must be a positive integer, got {text!r}")
            return int(text)

        address = env.get(LEADER_ADDRESS_ENV, "")
        if "." not in address:
            raise LaunchError(
                f"{LEADER_ADDRESS_ENV}: must be the leader's DNS name, got {address!r}"
            )
        key = env.get(SSH_KEY_ENV, "")
        if not key:
            raise LaunchError(f"{SSH_KEY_ENV}: must name the group's SSH key file")
        group = cls(
            leader_address=address,
            size=number(GROUP_SIZE_ENV),
            ranks=number(TENSOR_ENV, "1") * number(PIPELINE_ENV, "1"),
            ssh_port=number(SSH_PORT_ENV),
            key_file=Path(key),
        )
        if group.ranks % group.size:
            raise LaunchError(
                f"{TENSOR_ENV} x {PIPELINE_ENV} = {group.ranks} ranks do not split over "
                f"{GROUP_SIZE_ENV}={group.size} pods"
            )
        return group

    @property
    def workers(self) -> list[str]:
        """Workers' DNS names: LWS names worker i of the leader's pod `<leader>-<i>`, in the
        leader's subdomain (the group's headless Service)."""
        pod, _, domain = self.leader_address.partition(".")
        return [f"{pod}-{index}.{domain}" for index in range(1, self.size)]

    @property
    def slots(self) -> int:
        """Ranks (GPUs) per pod."""
        return self.ranks // self.size


def mpirun_argv(group: Group, env: Mapping[str, str], local_host: str, key: Path) -> list[str]:
    """The leader's mpirun: `slots` ranks on each pod, the leader's first (rank 0, the
    server), each running trtllm-llmapi-launch over this server."""
    hosts = [local_host, *group.workers]
    ssh = (
        f"-p {group.ssh_port} -i {key} -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    )
    forwarded = sorted(
        name
        for name in env
        if name not in _NOT_FORWARDED and not name.startswith(_NOT_FORWARDED_PREFIXES)
    )
    argv = [
        "mpirun",
        "-np",
        str(group.ranks),
        "--host",
        ",".join(f"{host}:{group.slots}" for host in hosts),
        "--mca",
        "plm_rsh_agent",
        "ssh",
        "--mca",
        "plm_rsh_args",
        ssh,
        # Ranks pin GPUs themselves (CUDA device = local rank); MPI binding only hurts.
        "--bind-to",
        "none",
    ]
    for name in forwarded:
        argv += ["-x", name]
    return [*argv, "trtllm-llmapi-launch", sys.executable, "-m", "service"]


def sshd_config(port: int, state: Path) -> str:
    """sshd for one user (the pod's), no root, no passwords: only the group's key."""
    return "\n".join(
        [
            f"Port {port}",
            f"HostKey {state / 'host_ed25519'}",
            f"AuthorizedKeysFile {state / 'authorized_keys'}",
            f"PidFile {state / 'sshd.pid'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            # Non-root sshd cannot use PAM or check ownership of a Secret-mounted key.
            "UsePAM no",
            "StrictModes no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "",
        ]
    )


def private_key_copy(key_file: Path, state: Path) -> Path:
    """The group key with 0600 permissions: ssh refuses the group-readable Secret file."""
    state.mkdir(parents=True, exist_ok=True)
    copy = state / "id_ecdsa"
    shutil.copyfile(key_file, copy)
    copy.chmod(0o600)
    return copy


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def wait_for_workers(group: Group, deadline_seconds: float = WORKER_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + deadline_seconds
    waiting = list(group.workers)
    while waiting:
        waiting = [host for host in waiting if not _port_open(host, group.ssh_port)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise LaunchError(f"workers never answered on port {group.ssh_port}: {waiting}")
        time.sleep(2)


def run_leader(env: Mapping[str, str]) -> None:
    group = Group.from_env(env)
    key = private_key_copy(group.key_file, STATE_DIR)
    wait_for_workers(group)
    argv = mpirun_argv(group, env, socket.gethostname(), key)
    os.execvp(argv[0], argv)


def run_worker(env: Mapping[str, str]) -> None:
    group = Group.from_env(env)
    key = private_key_copy(group.key_file, STATE_DIR)
    host_key = STATE_DIR / "host_ed25519"
    if not host_key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
    public = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key)], check=True, capture_output=True, text=True
    ).stdout
    (STATE_DIR / "authorized_keys").write_text(public)
    config = STATE_DIR / "sshd_config"
    config.write_text(sshd_config(group.ssh_port, STATE_DIR))
    # sshd re-executes itself and so must be started by absolute path.
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    os.execv(sshd, [sshd, "-D", "-e", "-f", str(config)])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    roles = {"leader": run_leader, "worker": run_worker}
    if len(args) != 1 or args[0] not in roles:
        print("usage: python -m service.multinode leader|worker", file=sys.stderr)
        return 2
    try:
        roles[args[0]](os.environ)
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
