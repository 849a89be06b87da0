"""service/Dockerfile passes hadolint and checkov's Dockerfile checks with nothing to report."""

from __future__ import annotations

from tests.image.dockerfile import DOCKERFILE
from tests.tools import complaints, hadolint_bin, run_checkov


def test_hadolint_reports_nothing() -> None:
    report = complaints([hadolint_bin(), "--no-color", str(DOCKERFILE)], timeout=60)
    assert report == "", f"hadolint:\n{report}"


def test_checkov_dockerfile_checks_all_pass() -> None:
    report = run_checkov("dockerfile", "--file", str(DOCKERFILE), timeout=180)
    failed = [
        f"{check['check_id']} {check['check_name']} (line {check['file_line_range']})"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    # A scan that found no Dockerfile would also have no failures.
    assert report["summary"]["passed"] > 0, report["summary"]
