"""Run the real Pulumi program (infra/__main__.py) under Pulumi's mocks (infra.offline).

Stack files hold no decryptable secrets here, so a stack's secrets are fed as plain
test values marked secret; a built image gets MOCK_DIGEST, so tests can tell the
digest the push returned from any placeholder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra import offline
from infra.config import (
    ConfigError,
    project_name,
    raw_from_stack_file,
    stack_file_section,
    stack_names,
)
from infra.offline import ProgramRun, Registration, engine_config
from tests.tools import REPO_ROOT

INFRA_DIR = REPO_ROOT / "infra"
PROJECT = project_name()
STACKS = stack_names()

# What an operator would have set with `pulumi config set --secret`.
TEST_SECRETS = {
    "registryPassword": "test-registry-password",
    "apiKeys": "test-key-1,test-key-2",
    "hfToken": "hf_test_token",
}
MOCK_DIGEST = "sha256:" + "ab" * 32


def stack_config(stack: str) -> tuple[dict[str, str], list[str]]:
    """(config, secret keys) for a stack file, secrets filled with TEST_SECRETS."""
    _, issues = raw_from_stack_file(stack_file_section(stack), PROJECT)
    assert not issues, [issue.line(PROJECT) for issue in issues]
    return engine_config(stack, TEST_SECRETS)


def run_program(
    config: Mapping[str, str], secret_keys: list[str] | None = None, stack: str = "test"
) -> ProgramRun:
    """Run infra/__main__.py once under mocks; the run records everything it did."""
    return offline.run_program(config, secret_keys, stack, digest=MOCK_DIGEST)


def dev_with(
    changes: dict[str, Any],
    secrets: dict[str, str] | None = None,
    plain: dict[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The dev stack's engine config with top-level keys replaced (None removes)."""
    return stack_with("dev", changes, secrets, plain)


def stack_with(
    stack: str,
    changes: dict[str, Any],
    secrets: dict[str, str] | None = None,
    plain: dict[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """A stack's engine config with top-level keys replaced (None removes)."""
    config, secret_keys = stack_config(stack)
    for key, value in changes.items():
        full_key = f"{PROJECT}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    for key, value in (secrets or {}).items():
        config[f"{PROJECT}:{key}"] = value
        secret_keys.append(f"{PROJECT}:{key}")
    for key, value in (plain or {}).items():
        config[f"{PROJECT}:{key}"] = value
    return config, secret_keys


def assert_runs(config: tuple[dict[str, str], list[str]]) -> ProgramRun:
    """The program runs this config through without a config error."""
    run = run_program(*config)
    assert run.error is None, str(run.error)
    return run


def assert_refused(config: tuple[dict[str, str], list[str]], line: str) -> ConfigError:
    """The program stops on this config with `line` in its error, having registered nothing."""
    run = run_program(*config)
    assert isinstance(run.error, ConfigError), f"program ran ({run.names()})"
    assert f"{PROJECT}:{line}" in str(run.error), str(run.error)
    assert run.registrations == [], f"registered {run.names()} before failing"
    return run.error


def child_names(run: ProgramRun, component: Registration) -> list[str]:
    return [r.name for r in run.descendants(component.urn)]


def repo_path(path: str) -> Path:
    """A path the program stored (relative to the working directory) as an absolute one."""
    return (Path.cwd() / path).resolve()
