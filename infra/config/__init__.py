"""Every stack setting, read and validated once: `load()` -> `StackConfig`.

Nothing else in the program reads raw config. The package follows the data:

- `sources`: raw values from the running Pulumi program or from a stack file.
- `schema`: one pydantic field per key (type, default, description), and `StackConfig`'s
  facts derived from several keys.
- `types`: the value types of those fields (quantity, DNS label, CIDR, secret).
- `rules`: rules between keys that a field cannot express.
- `issues`: every problem as `tensorrt-llm:<key>: <expected>, got <value>`.

Bad config raises `ConfigError` (a `pulumi.RunError`) naming every bad key, before any
resource is registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pydantic import ValidationError

from infra.config.issues import ConfigError, ConfigIssue, issues_from
from infra.config.rules import required_secrets, rules
from infra.config.schema import SECRET_KEYS, StackConfig
from infra.config.sources import (
    REPO_ROOT,
    SECRET_PLACEHOLDER,
    StackFileError,
    project_name,
    raw_from_pulumi,
    raw_from_stack_file,
    stack_file_section,
)
from infra.config.types import Engine, SecretValue, TypeLabel, quantity_value

__all__ = [
    "SECRET_KEYS",
    "SECRET_PLACEHOLDER",
    "ConfigError",
    "ConfigIssue",
    "Engine",
    "SecretValue",
    "StackConfig",
    "StackFileError",
    "TypeLabel",
    "load",
    "load_stack",
    "parse",
    "project_name",
    "quantity_value",
    "raw_from_pulumi",
    "raw_from_stack_file",
    "required_secrets",
]


def parse(raw: Mapping[str, Any], project: str, issues: Iterable[ConfigIssue] = ()) -> StackConfig:
    """Validate raw values (keys without the project prefix) into a StackConfig.

    Raises ConfigError listing every bad key, with `issues` found while reading. The
    rules between keys run once every field is valid; all their findings come together.
    """
    found = list(issues)
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(project, found + issues_from(error)) from None
    found += rules(config)
    if found:
        raise ConfigError(project, found)
    return config


def load() -> StackConfig:
    """The running stack's validated config; raises ConfigError before any resource."""
    project = pulumi.get_project()
    raw, issues = raw_from_pulumi(project)
    return parse(raw, project, issues)


def load_stack(stack: str, root: Path = REPO_ROOT) -> StackConfig:
    """Validated config of Pulumi.<stack>.yaml; StackFileError or ConfigError if bad."""
    project = project_name(root)
    raw, issues = raw_from_stack_file(stack_file_section(stack, root), project)
    return parse(raw, project, issues)
