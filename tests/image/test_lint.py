"""service/Dockerfile passes hadolint and checkov's Dockerfile checks with nothing to report."""

from __future__ import annotations

import json
import os
import subprocess

from tests.image.dockerfile import DOCKERFILE
from tests.tools import CHECKOV_ENV, checkov_bin, hadolint_bin


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [hadolint_bin(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and report == "", f"hadolint:\n{report}"


def test_checkov_dockerfile_checks_all_pass() -> None:
    result = subprocess.run(
        [
            checkov_bin(),
            "--skip-download",
            "--framework",
            "dockerfile",
            "--file",
            str(DOCKERFILE),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **CHECKOV_ENV},
    )
    report = json.loads(result.stdout)
    failed = [
        f"{check['check_id']} {check['check_name']} (line {check['file_line_range']})"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    # A scan that found no Dockerfile would also have no failures.
    assert report["summary"]["passed"] > 0, result.stdout[:2000]
