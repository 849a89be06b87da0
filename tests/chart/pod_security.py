"""Pod Security Standards checker (baseline + restricted levels) for rendered pod specs.

Written from the rules in kubernetes/pod-security-admission (policy/check_*.go, as
vendored under staging/ in kubernetes/kubernetes): each function below is one of those
checks, named by the same ID, reading the same fields. Enforcement happens on Pods at
admission, long after `helm install` returned, so the chart tests apply this to every
pod template it renders.

Deliberately stricter than upstream in one place: the user-namespace relaxation
(hostUsers: false lifts runAsNonRoot/runAsUser) is not modelled; the chart never
relies on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Spec = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    check: str
    level: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check} ({self.level}): {self.detail}"


CheckFn = Callable[[Spec, Spec], Iterator[str]]
CHECKS: dict[str, tuple[str, CheckFn]] = {}


def _check(check_id: str, level: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[check_id] = (level, fn)
        return fn

    return register


def _containers(spec: Spec) -> Iterator[Spec]:
    # Upstream visits init, regular and ephemeral containers alike.
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(obj: Spec) -> Spec:
    return obj.get("securityContext") or {}


# ---------------------------------------------------------------- baseline level


@_check("windowsHostProcess", "baseline")
def _host_process(meta: Spec, spec: Spec) -> Iterator[str]:
    if ((_sc(spec).get("windowsOptions") or {}).get("hostProcess")) is True:
        yield "pod sets securityContext.windowsOptions.hostProcess=true"
    for c in _containers(spec):
        if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True:
            yield f"container {c['name']} sets windowsOptions.hostProcess=true"


@_check("hostNamespaces", "baseline")
def _host_namespaces(meta: Spec, spec: Spec) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield f"{field}=true"


@_check("privileged", "baseline")
def _privileged(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        if _sc(c).get("privileged") is True:
            yield f"container {c['name']} sets privileged=true"


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


@_check("capabilities_baseline", "baseline")
def _capabilities_baseline(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        added = set((_sc(c).get("capabilities") or {}).get("add") or [])
        if bad := sorted(added - BASELINE_CAPABILITIES):
            yield f"container {c['name']} adds non-default capabilities {bad}"


@_check("hostPathVolumes", "baseline")
def _host_path(meta: Spec, spec: Spec) -> Iterator[str]:
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"volume {volume['name']} is a hostPath"


@_check("hostPorts", "baseline")
def _host_ports(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        for port in c.get("ports") or []:
            if port.get("hostPort", 0) != 0:
                yield f"container {c['name']} uses hostPort {port['hostPort']}"


APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


@_check("appArmorProfile", "baseline")
def _apparmor(meta: Spec, spec: Spec) -> Iterator[str]:
    for key, value in (meta.get("annotations") or {}).items():
        allowed = value in ("", "runtime/default") or value.startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not allowed:
            yield f"annotation {key}={value!r}"
    # The securityContext.appArmorProfile field (1.30+): anything but Unconfined.
    holders = [("pod", spec), *((f"container {c['name']}", c) for c in _containers(spec))]
    for who, holder in holders:
        profile = _sc(holder).get("appArmorProfile") or {}
        if profile.get("type") not in (None, "RuntimeDefault", "Localhost"):
            yield f"{who} sets appArmorProfile.type={profile['type']}"


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


@_check("seLinuxOptions", "baseline")
def _selinux(meta: Spec, spec: Spec) -> Iterator[str]:
    holders = [("pod", spec), *((f"container {c['name']}", c) for c in _containers(spec))]
    for who, holder in holders:
        options = _sc(holder).get("seLinuxOptions")
        if options is None:
            continue
        if options.get("type", "") not in SELINUX_TYPES:
            yield f"{who} sets seLinuxOptions.type={options['type']}"
        for field in ("user", "role"):
            if options.get(field):
                yield f"{who} sets seLinuxOptions.{field}"


@_check("procMount", "baseline")
def _proc_mount(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        if _sc(c).get("procMount") not in (None, "Default"):
            yield f"container {c['name']} sets procMount={_sc(c)['procMount']}"


@_check("seccompProfile_baseline", "baseline")
def _seccomp_baseline(meta: Spec, spec: Spec) -> Iterator[str]:
    holders = [("pod", spec), *((f"container {c['name']}", c) for c in _containers(spec))]
    for who, holder in holders:
        if (_sc(holder).get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f"{who} sets seccompProfile.type=Unconfined"


SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)


@_check("sysctls", "baseline")
def _sysctls(meta: Spec, spec: Spec) -> Iterator[str]:
    for sysctl in _sc(spec).get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl['name']}"


@_check("hostProbesAndHostLifecycle", "baseline")
def _probe_hosts(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        probes = ("livenessProbe", "readinessProbe", "startupProbe")
        handlers = {name: c.get(name) for name in probes}
        for hook, handler in (c.get("lifecycle") or {}).items():
            handlers[f"lifecycle.{hook}"] = handler
        for where, handler in handlers.items():
            for action in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(action) or {}).get("host")
                if host:
                    yield f"container {c['name']} {where}.{action}.host={host}"


# -------------------------------------------------------------- restricted level

RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


@_check("restrictedVolumes", "restricted")
def _volume_types(meta: Spec, spec: Spec) -> Iterator[str]:
    for volume in spec.get("volumes") or []:
        sources = set(volume) - {"name"}
        if bad := sorted(sources - RESTRICTED_VOLUME_SOURCES):
            yield f"volume {volume['name']} uses {bad}"


@_check("allowPrivilegeEscalation", "restricted")
def _privilege_escalation(meta: Spec, spec: Spec) -> Iterator[str]:
    # Must be explicitly false: the default is true for a process gaining privileges.
    for c in _containers(spec):
        if _sc(c).get("allowPrivilegeEscalation") is not False:
            yield f"container {c['name']} must set allowPrivilegeEscalation=false"


@_check("runAsNonRoot", "restricted")
def _run_as_non_root(meta: Spec, spec: Spec) -> Iterator[str]:
    pod_value = _sc(spec).get("runAsNonRoot")
    if pod_value is False:
        yield "pod sets runAsNonRoot=false"
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            yield f"container {c['name']} sets runAsNonRoot=false"
        elif value is None and pod_value is not True:
            yield f"pod or container {c['name']} must set runAsNonRoot=true"


@_check("runAsUser", "restricted")
def _run_as_user(meta: Spec, spec: Spec) -> Iterator[str]:
    holders = [("pod", spec), *((f"container {c['name']}", c) for c in _containers(spec))]
    for who, holder in holders:
        if _sc(holder).get("runAsUser") == 0:
            yield f"{who} sets runAsUser=0"


@_check("seccompProfile_restricted", "restricted")
def _seccomp_restricted(meta: Spec, spec: Spec) -> Iterator[str]:
    allowed = ("RuntimeDefault", "Localhost")
    pod_type = (_sc(spec).get("seccompProfile") or {}).get("type")
    if pod_type is not None and pod_type not in allowed:
        yield f"pod sets seccompProfile.type={pod_type}"
    pod_ok = pod_type in allowed
    for c in _containers(spec):
        profile = _sc(c).get("seccompProfile")
        if profile is not None and profile.get("type") not in allowed:
            yield f"container {c['name']} sets seccompProfile.type={profile.get('type')}"
        elif profile is None and not pod_ok:
            yield f"pod or container {c['name']} must set seccompProfile RuntimeDefault/Localhost"


@_check("capabilities_restricted", "restricted")
def _capabilities_restricted(meta: Spec, spec: Spec) -> Iterator[str]:
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"container {c['name']} must drop ALL capabilities"
        if bad := sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}):
            yield f"container {c['name']} may add only NET_BIND_SERVICE, adds {bad}"


def violations(metadata: Spec, spec: Spec, level: str = "restricted") -> list[Violation]:
    """Every baseline (and, for level restricted, restricted) rule the pod breaks."""
    levels = {"baseline"} if level == "baseline" else {"baseline", "restricted"}
    return [
        Violation(check_id, check_level, detail)
        for check_id, (check_level, fn) in CHECKS.items()
        if check_level in levels
        for detail in fn(metadata, spec)
    ]
