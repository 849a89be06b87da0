"""Bad config fails under the real CLI with the message the mocked program gives.

The cases are a sample of tests/infra/test_config_errors.py's table (one place for the
expected messages), applied to a stack file the way an operator edits it; each
preview must fail before any resource, naming the key, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.harness import PROJECT, Cli, Stack, error_text
from tests.infra.test_config_errors import CASES

SAMPLE = [
    "negative replicas",
    "unknown engine",
    "tensor parallel 3",
    "typo in a top-level key",
    "typo in a nested key",
    "namespace not a DNS label",
    "both image ref and repository",
    "bad CIDR",
    "api keys required",
]
IMAGE_REF = "registry.example.com/ml/tensorrt-llm-server:e2e"


@pytest.fixture(scope="module")
def bad(cli: Cli, project_dir: Path) -> Iterator[tuple[Stack, dict[str, Any]]]:
    base = yaml.safe_load((project_dir / "Pulumi.dev.yaml").read_text())
    base["config"][f"{PROJECT}:image"] = {"ref": IMAGE_REF}
    (project_dir / "Pulumi.bad.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    stack = Stack(cli, project_dir, "bad")
    yield stack, base
    stack.remove_stack()


def write_config(stack: Stack, base: dict[str, Any], changes: dict[str, Any]) -> None:
    data = yaml.safe_load(yaml.safe_dump(base))
    # Keep the encryption salt the CLI wrote when it created the stack.
    current = yaml.safe_load(stack.stack_file.read_text()) or {}
    if "encryptionsalt" in current:
        data["encryptionsalt"] = current["encryptionsalt"]
    for key, value in changes.items():
        full_key = f"{PROJECT}:{key}"
        if value is None:
            data["config"].pop(full_key, None)
        else:
            data["config"][full_key] = value
    stack.stack_file.write_text(yaml.safe_dump(data, sort_keys=False))


def refused(bad: tuple[Stack, dict[str, Any]], changes: dict[str, Any]) -> str:
    """What the CLI prints when it refuses a preview of the bad stack with `changes`:
    never a traceback."""
    stack, base = bad
    write_config(stack, base, changes)
    with pytest.raises(auto.errors.CommandError) as caught:
        stack.preview()
    output = error_text(caught.value)
    assert "Traceback" not in output, output
    return output


def test_sample_covers_at_least_five_cases() -> None:
    assert len(set(SAMPLE) & set(CASES)) >= 5


@pytest.mark.parametrize("case", SAMPLE)
def test_bad_config_fails_preview_naming_the_key(
    bad: tuple[Stack, dict[str, Any]], case: str
) -> None:
    changes, message = CASES[case]
    output = refused(bad, changes)
    assert f"{PROJECT}:{message}" in output, output
    assert "invalid stack configuration" in output, output


def test_plain_value_for_a_secret_key_is_refused_without_showing_it(
    bad: tuple[Stack, dict[str, Any]],
) -> None:
    output = refused(bad, {"hfToken": "hf_plainLeakedValue"})
    assert "hfToken" in output and "secret" in output, output
    assert "hf_plainLeakedValue" not in output


def test_a_value_of_the_wrong_type_is_refused_by_the_cli(
    bad: tuple[Stack, dict[str, Any]],
) -> None:
    # Pulumi.yaml declares types, so the CLI refuses these before the program runs,
    # with its own one-line message naming the key.
    output = refused(bad, {"replicas": "two"})
    assert "configuration key 'replicas' must be of type 'integer'" in output, output
