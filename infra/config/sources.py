"""Where raw stack values come from: the running Pulumi program, or a stack file offline.

Both readers return `(raw values keyed without the project prefix, issues found while
reading)`; `infra.config.parse` validates either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pydantic import ValidationError

from infra.config.issues import ConfigIssue
from infra.config.rules import required_secrets
from infra.config.schema import SECRET_KEYS, StackConfig
from infra.config.types import SecretValue

REPO_ROOT = Path(__file__).resolve().parents[2]


class StackFileError(Exception):
    """The stack file cannot be read; the message is one line."""


def project_name(root: Path = REPO_ROOT) -> str:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]


def stack_names(root: Path = REPO_ROOT) -> list[str]:
    """The stacks that have a Pulumi.<stack>.yaml in `root`, sorted."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
    )


def stack_file_section(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The `config:` mapping of Pulumi.<stack>.yaml; StackFileError if it cannot be read."""
    path = root / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StackFileError(f"no stack file {path.name} in {root}") from None
    except (OSError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0]
        raise StackFileError(f"cannot read {path.name}: {reason}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path.name}: expected a mapping with a `config:` mapping")
    return document.get("config") or {}


def _decode(value: Any) -> Any:
    # The engine hands every value over as a string; objects and lists arrive as JSON.
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_from_pulumi(project: str) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The project's config keys from the running Pulumi program, secrets wrapped.

    The SDK has no public way to list config keys; listing them is what lets a typo
    such as `autoscalling` be an error instead of a silently ignored key.
    """
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for full_key, value in values.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            if value in (None, ""):
                continue  # Pulumi.yaml declares "" as the default: unset
            if not runtime_config.is_config_secret(full_key):
                issues.append(
                    ConfigIssue(
                        key, f"must be a secret (pulumi config set --secret {key})", "a plain value"
                    )
                )
            raw[key] = SecretValue(pulumi.Output.secret(str(value)))
        else:
            raw[key] = _decode(value)
    return raw, issues


SECRET_PLACEHOLDER = "<secret>"


def raw_from_stack_file(
    section: Mapping[str, Any], project: str
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """The project's keys from a stack file's `config:` mapping, read offline.

    Encrypted values cannot be decrypted here: secret keys become placeholders, and
    secret keys the stack requires but the file lacks are assumed set (an operator sets
    them with `pulumi config set --secret`; the program itself refuses to deploy
    without them). Optional secrets count as set only when the file has them.
    """
    raw: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for full_key, value in section.items():
        namespace, _, key = str(full_key).rpartition(":")
        if namespace not in ("", project):
            continue
        encrypted = isinstance(value, Mapping) and set(value) == {"secure"}
        if key in SECRET_KEYS:
            if not encrypted:
                issues.append(
                    ConfigIssue(
                        key, f"must be a secret (pulumi config set --secret {key})", "a plain value"
                    )
                )
            raw[key] = SecretValue(SECRET_PLACEHOLDER)
        elif encrypted:
            issues.append(
                ConfigIssue(
                    key, "must not be a secret (it is not secret data)", "an encrypted value"
                )
            )
        else:
            raw[key] = value
    try:
        required = required_secrets(StackConfig.model_validate(raw))
    except ValidationError:
        required = {}  # parse() reports the field errors
    for key in required:
        raw.setdefault(key, SecretValue(SECRET_PLACEHOLDER))
    return raw, issues
