"""Every pod the chart creates passes Pod Security "restricted"; every rule is proven live."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.chart.pod_security import CHECKS, violations
from tests.chart.rendering import Rendered, pod_templates

Spec = dict[str, Any]


def test_every_pod_template_is_restricted(rendered: dict[str, Rendered]) -> None:
    seen: list[str] = []
    problems: list[str] = []
    for scenario, result in rendered.items():
        for where, metadata, spec in pod_templates(result):
            seen.append(f"{scenario}: {where}")
            problems += [f"{scenario}: {where}: {v}" for v in violations(metadata, spec)]
    assert not problems, "\n".join(problems)
    assert any("Deployment" in s for s in seen) and any("test-health" in s for s in seen), seen


def _server(spec: Spec) -> Spec:
    return spec["containers"][0]


def _sc(holder: Spec) -> Spec:
    return holder.setdefault("securityContext", {})


def _add_init(spec: Spec) -> None:
    # An init container with no securityContext at all, under a pod that still sets
    # runAsNonRoot and seccomp: breaks only the per-container rules.
    spec["initContainers"] = [{"name": "fetch", "image": "x"}]


Mutation = Callable[[Spec, Spec], None]

BREAKING: list[tuple[str, str, Mutation]] = [
    ("windowsHostProcess", "pod hostProcess",
     lambda m, s: _sc(s).update(windowsOptions={"hostProcess": True})),
    ("hostNamespaces", "hostNetwork", lambda m, s: s.update(hostNetwork=True)),
    ("hostNamespaces", "hostPID", lambda m, s: s.update(hostPID=True)),
    ("hostNamespaces", "hostIPC", lambda m, s: s.update(hostIPC=True)),
    ("privileged", "privileged container", lambda m, s: _sc(_server(s)).update(privileged=True)),
    ("hostPorts", "hostPort", lambda m, s: _server(s)["ports"][0].update(hostPort=8000)),
    ("appArmorProfile", "unconfined annotation",
     lambda m, s: m.setdefault("annotations", {}).update(
         {"container.apparmor.security.beta.kubernetes.io/server": "unconfined"})),
    ("appArmorProfile", "Unconfined field",
     lambda m, s: _sc(s).update(appArmorProfile={"type": "Unconfined"})),
    ("seLinuxOptions", "spc_t type", lambda m, s: _sc(s).update(seLinuxOptions={"type": "spc_t"})),
    ("seLinuxOptions", "custom user",
     lambda m, s: _sc(_server(s)).update(seLinuxOptions={"user": "system_u"})),
    ("procMount", "Unmasked", lambda m, s: _sc(_server(s)).update(procMount="Unmasked")),
    ("sysctls", "unsafe sysctl",
     lambda m, s: _sc(s).update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    ("hostProbesAndHostLifecycle", "probe host",
     lambda m, s: _server(s)["livenessProbe"]["httpGet"].update(host="10.0.0.1")),
    ("restrictedVolumes", "nfs volume",
     lambda m, s: s["volumes"].append({"name": "n", "nfs": {"server": "nfs", "path": "/"}})),
    ("allowPrivilegeEscalation", "escalation allowed",
     lambda m, s: _sc(_server(s)).update(allowPrivilegeEscalation=True)),
    ("allowPrivilegeEscalation", "escalation unset",
     lambda m, s: _sc(_server(s)).pop("allowPrivilegeEscalation")),
    ("runAsNonRoot", "container runAsNonRoot false",
     lambda m, s: _sc(_server(s)).update(runAsNonRoot=False)),
    ("runAsNonRoot", "unset on pod and container",
     lambda m, s: (_sc(s).pop("runAsNonRoot"), _sc(_server(s)).pop("runAsNonRoot"))),
    ("runAsUser", "root uid", lambda m, s: _sc(s).update(runAsUser=0)),
    ("seccompProfile_restricted", "unset on pod and container",
     lambda m, s: (_sc(s).pop("seccompProfile"), _sc(_server(s)).pop("seccompProfile"))),
    ("capabilities_restricted", "ALL not dropped",
     lambda m, s: _sc(_server(s))["capabilities"].update(drop=["NET_RAW"])),
    ("capabilities_restricted", "adds CHOWN",
     lambda m, s: _sc(_server(s))["capabilities"].update(add=["CHOWN"])),
]  # fmt: skip

# Some pods break a baseline rule and its stricter restricted twin at once (upstream
# reports both): Unconfined seccomp, a capability outside both allow lists,
# a hostPath (also outside the restricted volume list).
BREAKING_TOGETHER: list[tuple[set[str], str, Mutation]] = [
    ({"seccompProfile_baseline", "seccompProfile_restricted"}, "Unconfined",
     lambda m, s: _sc(_server(s)).update(seccompProfile={"type": "Unconfined"})),
    ({"capabilities_baseline", "capabilities_restricted"}, "add SYS_ADMIN",
     lambda m, s: _sc(_server(s))["capabilities"].update(add=["SYS_ADMIN"])),
    ({"hostPathVolumes", "restrictedVolumes"}, "hostPath volume",
     lambda m, s: s["volumes"].append({"name": "h", "hostPath": {"path": "/var"}})),
    ({"allowPrivilegeEscalation", "capabilities_restricted"}, "bare init container",
     lambda m, s: _add_init(s)),
]  # fmt: skip


@pytest.fixture(scope="module")
def compliant_pod(rendered: dict[str, Rendered]) -> tuple[Spec, Spec]:
    template = rendered["defaults"].one("Deployment")["spec"]["template"]
    assert violations(template["metadata"], template["spec"]) == []
    return template["metadata"], template["spec"]


@pytest.mark.parametrize(
    ("check", "case", "mutate"), BREAKING, ids=[f"{c}-{n}" for c, n, _ in BREAKING]
)
def test_each_rule_rejects_a_pod_that_breaks_it(
    compliant_pod: tuple[Spec, Spec], check: str, case: str, mutate: Mutation
) -> None:
    metadata, spec = copy.deepcopy(compliant_pod)
    mutate(metadata, spec)
    assert {v.check for v in violations(metadata, spec)} == {check}


@pytest.mark.parametrize(
    ("checks", "case", "mutate"), BREAKING_TOGETHER, ids=[n for _, n, _ in BREAKING_TOGETHER]
)
def test_rules_that_fire_together(
    compliant_pod: tuple[Spec, Spec], checks: set[str], case: str, mutate: Mutation
) -> None:
    metadata, spec = copy.deepcopy(compliant_pod)
    mutate(metadata, spec)
    assert {v.check for v in violations(metadata, spec)} == checks


def test_every_rule_has_a_breaking_pod() -> None:
    covered = {check for check, _, _ in BREAKING}
    covered |= {check for checks, _, _ in BREAKING_TOGETHER for check in checks}
    assert covered == set(CHECKS)


def test_baseline_level_ignores_restricted_rules(compliant_pod: tuple[Spec, Spec]) -> None:
    metadata, spec = copy.deepcopy(compliant_pod)
    _sc(_server(spec)).pop("allowPrivilegeEscalation")
    assert violations(metadata, spec, level="baseline") == []
    assert [v.check for v in violations(metadata, spec)] == ["allowPrivilegeEscalation"]


def test_every_pod_is_locked_down_beyond_restricted(rendered: dict[str, Rendered]) -> None:
    """What "restricted" leaves optional but this chart locks down in every pod, test pod too."""
    pods = 0
    for scenario, result in rendered.items():
        for where, meta, spec in pod_templates(result):
            pods += 1
            if meta["labels"].get("app.kubernetes.io/component") == "endpoint-picker":
                # Upstream's distroless image runs as 65532 and watches the API.
                assert spec["securityContext"]["runAsUser"] == 65532, f"{scenario} {where}"
            else:
                assert spec["automountServiceAccountToken"] is False, f"{scenario} {where}"
                assert spec["securityContext"]["runAsUser"] == 1000, f"{scenario} {where}"
                assert spec["securityContext"]["runAsGroup"] == 1000, f"{scenario} {where}"
            for container in spec.get("initContainers", []) + spec["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True, f"{scenario} {where}"
                assert context["capabilities"]["drop"] == ["ALL"], f"{scenario} {where}"
    assert any(
        where.endswith(" Pod") for r in rendered.values() for where, _, _ in pod_templates(r)
    )
    assert pods >= len(rendered)
