"""checkov (Kubernetes framework) finds nothing in any scenario, except skips with reasons.

All scenarios are scanned in one checkov run (its start-up dominates). checkov's helm
framework would need a helm binary, so the chart is rendered by the Helm SDK first and
the manifests are scanned as plain Kubernetes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.rendering import Rendered
from tests.tools import run_checkov

# Every finding the chart keeps, and where; the reasons live next to the templates
# (templates/_checkov.tpl). Adding a skip there without adding it here fails the test.
ALLOWED_SKIPS = {
    "CKV2_K8S_6": {"Pod"},  # network policies come from the Pulumi namespace component
    "CKV_K8S_40": {"Deployment", "Pod", "Job"},  # uid 1000 is the image's user
    "CKV_K8S_43": {"Deployment", "Pod", "Job"},  # only while image.digest is empty
    "CKV_K8S_11": {"Deployment"},  # no CPU limit by default (throttling = latency)
    "CKV_K8S_35": {"Deployment"},  # HF_TOKEN / API_KEYS are read from env
    "CKV_K8S_8": {"Pod"},  # helm test pod: one-shot, no probes
    "CKV_K8S_9": {"Pod"},
    "CKV_K8S_38": {"Deployment"},  # the endpoint picker watches the API
}


@pytest.fixture(scope="module")
def checkov_report(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> Any:
    manifests: Path = tmp_path_factory.mktemp("checkov")
    for name, result in rendered.items():
        (manifests / f"{name}.yaml").write_text(result.yaml_stream())
    return run_checkov("kubernetes", "-d", str(manifests), timeout=240)


def test_no_failed_checks(checkov_report: Any) -> None:
    failed = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} in {f['file_path']}"
        for f in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert checkov_report["summary"]["parsing_errors"] == 0


def test_scanned_every_object(checkov_report: Any, rendered: dict[str, Rendered]) -> None:
    objects = sum(len(result.objects) for result in rendered.values())
    # checkov also counts each Deployment's and Job's pod template as a resource of its own.
    templates = sum(
        len(result.of_kind("Deployment")) + len(result.of_kind("Job"))
        for result in rendered.values()
    )
    assert checkov_report["summary"]["resource_count"] == objects + templates
    assert checkov_report["summary"]["passed"] > 10 * objects


def test_every_skip_is_expected_and_has_a_reason(checkov_report: Any) -> None:
    for skipped in checkov_report["results"]["skipped_checks"]:
        kind = skipped["resource"].split(".")[0]
        assert kind in ALLOWED_SKIPS.get(skipped["check_id"], set()), skipped["resource"]
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 30, f"{skipped['check_id']} on {skipped['resource']}: {reason!r}"


def test_digest_skip_only_while_the_tag_is_used(checkov_report: Any) -> None:
    skipped_files = {
        Path(s["file_path"]).stem
        for s in checkov_report["results"]["skipped_checks"]
        if s["check_id"] == "CKV_K8S_43"
    }
    # gpu-tp2 pins the image by digest: checkov must pass it without any skip.
    assert "gpu-tp2" not in skipped_files
    assert "defaults" in skipped_files
