"""Every rendered object is valid Kubernetes for the oldest and newest versions we check.

kubernetes-validate in strict mode rejects unknown fields (a typo such as
`readinessprobe` would otherwise be silently dropped by the API server).
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.chart.rendering import Rendered

OLDEST = "1.29"
NEWEST = kubernetes_validate.latest_version()
# Custom resources have no schema in kubernetes-validate; listed by name so a new
# kind without a schema fails loudly instead of being skipped.
CUSTOM_RESOURCES = frozenset(
    {
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("inference.networking.k8s.io/v1", "InferencePool"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    }
)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_object_validates_strictly(rendered: dict[str, Rendered], version: str) -> None:
    checked = 0
    errors: list[str] = []
    for scenario, result in rendered.items():
        for template, obj in result.objects:
            if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
                continue
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{scenario} {template}: {error.message}")
            checked += 1
    assert not errors, "\n".join(errors)
    # 10 scenarios of 4-9 objects each; a collapse here means templates stopped rendering.
    assert checked >= 50, checked
    print(f"kubernetes {version}: {checked} objects valid")


def test_custom_resources_are_the_only_ones_without_schema(
    rendered: dict[str, Rendered],
) -> None:
    for result in rendered.values():
        for _, obj in result.objects:
            if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
                with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                    kubernetes_validate.validate(obj, NEWEST, strict=True)


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, Rendered]) -> None:
    deployment = rendered["defaults"].one("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, OLDEST, strict=True)
