"""The stack's config as the program uses it: checked by its own rules and the chart's.

`infra.config` validates every key and the rules between keys; the chart owns the rules
about its values (templates/_validations.tpl). Both verdicts come together here, before
any resource is registered, whether the config comes from the running Pulumi program
(`load`) or from a stack file read offline (`load_stack`, for infra.render and tests).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from infra.config import (
    ConfigError,
    ConfigIssue,
    StackConfig,
    StackFileError,
    parse,
    project_name,
    raw_from_pulumi,
    raw_from_stack_file,
    stack_file_section,
)
from infra.config.sources import REPO_ROOT
from infra.values import chart_issues


def validate(
    raw: Mapping[str, Any], project: str, issues: Iterable[ConfigIssue] = ()
) -> StackConfig:
    """parse() plus the chart's verdict on the stack's values; ConfigError lists all."""
    return parse(raw, project, issues, checks=[chart_issues])


def load() -> StackConfig:
    """The running stack's validated config; raises ConfigError before any resource."""
    project = pulumi.get_project()
    raw, issues = raw_from_pulumi(project)
    return validate(raw, project, issues)


def load_stack(stack: str, root: Path = REPO_ROOT) -> StackConfig:
    """Validated config of Pulumi.<stack>.yaml; StackFileError or ConfigError if bad."""
    project = project_name(root)
    raw, issues = raw_from_stack_file(stack_file_section(stack, root), project)
    return validate(raw, project, issues)


# Exit status of the offline tools (infra.render, infra.image_plan) for a stack file
# that is missing, unreadable or invalid.
USAGE_ERROR = 2
BAD_STACK = (StackFileError, ConfigError)


def stack_tool_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line of an offline tool that reads one stack file: `--stack S`."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    return parser


def report_bad_stack(stack: str, error: StackFileError | ConfigError) -> int:
    """Print the one line those tools print for such a stack (scripts and CI logs read
    it); returns their exit status."""
    if isinstance(error, ConfigError):
        # `pulumi up` shows the same issues one per line.
        problems = "; ".join(issue.line(project_name()) for issue in error.issues)
        print(f"error: invalid Pulumi.{stack}.yaml: {problems}", file=sys.stderr)
    else:
        print(f"error: {error}", file=sys.stderr)
    return USAGE_ERROR
