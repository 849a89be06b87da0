"""Every `pulumi config set` example in the README works as written.

Each example (one inline code span, or one line of a code block; `&&` chains apply
together) is applied to the stack it names (`--stack`, else prod, the stack the
README's deploy steps select) the way the Pulumi CLI stores it, and the program then
runs under Pulumi's mocks: an example the config validation refuses fails here.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

import pytest
import yaml

from tests.infra.harness import PROJECT, run_program, stack_config
from tests.tools import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
DEFAULT_STACK = "prod"


@dataclass(frozen=True)
class Setting:
    key: str  # dotted with --path
    value: str
    path: bool


@dataclass(frozen=True)
class Example:
    text: str
    stack: str
    settings: tuple[Setting, ...]


def command_texts() -> list[str]:
    texts = []
    fenced = re.split(r"^```.*$", README, flags=re.MULTILINE)
    for index, part in enumerate(fenced):
        if index % 2:  # inside a fence
            texts += [line for line in part.splitlines() if "pulumi config set" in line]
        else:
            texts += [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", part)]
    return [t for t in texts if "pulumi config set" in t]


def parse(text: str) -> Example | None:
    settings = []
    stack = DEFAULT_STACK
    for command in text.split("&&"):
        words = shlex.split(command, comments=True)
        if words[:3] != ["pulumi", "config", "set"]:
            continue
        args, path, secret = [], False, False
        rest = iter(words[3:])
        for word in rest:
            if word in ("--stack", "-s"):
                stack = next(rest)
            elif word == "--path":
                path = True
            elif word == "--secret":
                secret = True
            elif not word.startswith("-"):
                args.append(word)
        if secret or len(args) != 2:  # a prompt for a secret, or a mention of the command
            continue
        settings.append(Setting(args[0], args[1], path))
    return Example(text, stack, tuple(settings)) if settings else None


EXAMPLES = [e for e in map(parse, command_texts()) if e is not None]


def apply(config: dict[str, str], setting: Setting) -> None:
    """Store the setting as the CLI does: --path writes into the object key, with YAML
    typing of the value; a plain key is a string."""
    if not setting.path:
        config[f"{PROJECT}:{setting.key}"] = setting.value
        return
    top, *rest = setting.key.split(".")
    full_key = f"{PROJECT}:{top}"
    document = json.loads(config[full_key]) if full_key in config else {}
    node = document
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = yaml.safe_load(setting.value)
    config[full_key] = json.dumps(document)


def test_the_readme_has_config_examples() -> None:
    assert len(EXAMPLES) >= 3, [e.text for e in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.text)
def test_config_example_works_on_its_stack(example: Example) -> None:
    config, secret_keys = stack_config(example.stack)
    for setting in example.settings:
        apply(config, setting)
    run = run_program(config, secret_keys, stack=example.stack)
    assert run.error is None, f"`{example.text}` on {example.stack}: {run.error}"
