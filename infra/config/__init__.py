"""Every stack setting, read and validated once: `parse(raw)` -> `StackConfig`.

Nothing else in the program reads raw config; infra.stack adds the chart's own rules and
loads the running stack or a stack file. The package follows the data:

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

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from infra.config.issues import ConfigError, ConfigIssue, issues_from
from infra.config.rules import required_secrets, rules
from infra.config.schema import SECRET_KEYS, StackConfig
from infra.config.sources import (
    SECRET_PLACEHOLDER,
    StackFileError,
    project_name,
    raw_from_pulumi,
    raw_from_stack_file,
    stack_file_section,
    stack_names,
)
from infra.config.types import Engine, SecretValue, TypeLabel, quantity_value

__all__ = [
    "SECRET_KEYS",
    "SECRET_PLACEHOLDER",
    "Check",
    "ConfigError",
    "ConfigIssue",
    "Engine",
    "SecretValue",
    "StackConfig",
    "StackFileError",
    "TypeLabel",
    "parse",
    "project_name",
    "quantity_value",
    "raw_from_pulumi",
    "raw_from_stack_file",
    "required_secrets",
    "stack_file_section",
    "stack_names",
]


Check = Callable[[StackConfig], list[ConfigIssue]]


def parse(
    raw: Mapping[str, Any],
    project: str,
    issues: Iterable[ConfigIssue] = (),
    checks: Iterable[Check] = (),
) -> StackConfig:
    """Validate raw values (keys without the project prefix) into a StackConfig.

    Raises ConfigError listing every bad key, with `issues` found while reading. The
    rules between keys, and `checks` owned elsewhere (the chart's, see infra.stack), run
    once every field is valid; all their findings come together.
    """
    found = list(issues)
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(project, found + issues_from(error)) from None
    found += rules(config)
    for check in checks:
        found += check(config)
    if found:
        raise ConfigError(project, found)
    return config
