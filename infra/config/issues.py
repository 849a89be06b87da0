"""Config problems as one-line messages: `<project>:<key>: <expected>, got <value>`.

`ConfigError` carries every issue at once; pydantic's validation errors are translated
here into the same shape, with "did you mean" for a misspelt key.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError

from infra.config.schema import StackConfig
from infra.config.types import SecretValue


@dataclass(frozen=True)
class ConfigIssue:
    """One bad key. `got` is None where `expected` already quotes the value (the chart's
    messages do)."""

    key: str
    expected: str
    got: str | None = None

    def line(self, project: str) -> str:
        got = "" if self.got is None else f", got {self.got}"
        return f"{project}:{self.key}: {self.expected}{got}"


class ConfigError(pulumi.RunError):
    """Every bad key at once; pulumi prints RunError messages without a traceback."""

    def __init__(self, project: str, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = [issue.line(project) for issue in issues]
        super().__init__(
            f"invalid stack configuration ({len(issues)} problem(s)):\n  " + "\n  ".join(lines)
        )


def show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, SecretValue):
        return "a secret"
    # The engine hands scalars over as strings: show them as the user typed them.
    text = value if isinstance(value, str) and value else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _loc(loc: Iterable[str | int]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "an object",
    "model": "an object",
    "list": "a list",
}


def _expected(error: Mapping[str, Any], known: list[str]) -> str:
    kind: str = error["type"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    for prefix, words in _TYPE_WORDS.items():
        if kind.startswith(prefix):
            return f"must be {words}"
    return str(error["msg"])


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys that were valid where an unknown key appeared (for 'did you mean')."""
    for part in loc[:-1]:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [f.alias for f in model.model_fields.values() if f.alias]


def issues_from(error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for item in error.errors():
        loc = tuple(item["loc"])
        got = "nothing" if item["type"] == "missing" else show(item["input"])
        issues.append(ConfigIssue(_loc(loc), _expected(item, _known_keys(StackConfig, loc)), got))
    return issues
