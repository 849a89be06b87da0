"""Generate the config reference from infra/config/schema.py: README table, Pulumi.yaml.

    python -m infra.docs --write   # rewrite both
    python -m infra.docs --check   # exit 1 if either is stale (tests run this)

The README table lists every key (dotted for object fields) with its type, default,
each stack's value and the description; Pulumi.yaml declares every top-level key with
its type, description and the same default, so `pulumi config` and the Pulumi Cloud
console show them too.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from infra.config import (
    SecretValue,
    StackConfig,
    TypeLabel,
    hardware,
    spot,
    stack_file_section,
    stack_names,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}


@dataclass(frozen=True)
class KeyDoc:
    key: str
    type: str
    default: Any
    description: str
    secret: bool


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return args[0] if len(args) == 1 else annotation
    return annotation


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    for item in metadata:
        if isinstance(item, TypeLabel):
            return item.text
    annotation = _strip_optional(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0], list(args[1:]))
    if annotation is SecretValue:
        return "secret string"
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0], [])}"
    if origin is dict:
        return "map of string" if args[1] is str else "list/map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return _SCALARS.get(annotation, "object" if args else str(annotation))


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def key_docs(model: type[BaseModel] = StackConfig, prefix: str = "") -> Iterator[KeyDoc]:
    """Every key, object fields flattened to dotted paths, in declaration order."""
    for field in model.model_fields.values():
        key = prefix + (field.alias or "")
        annotation = _strip_optional(field.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from key_docs(annotation, key + ".")
            continue
        yield KeyDoc(
            key=key,
            type=_type_name(field.annotation, field.metadata),
            default=_default(field),
            description=field.description or "",
            secret=annotation is SecretValue,
        )


# --- Pulumi.yaml ----------------------------------------------------------------------


def _project_type(field: FieldInfo) -> str:
    annotation = _strip_optional(field.annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if annotation is SecretValue:
        return "string"
    if typing.get_origin(annotation) is list:
        return "array"
    return {bool: "boolean", int: "integer"}.get(annotation, "string")


def project_config_block() -> dict[str, Any]:
    """The `config:` block of Pulumi.yaml: every top-level key, typed, with its default.

    Every key needs a default there, or the CLI reports stacks that leave it out as
    "missing configuration"; the defaults are StackConfig's own. Secrets default to ""
    (unset), which infra.config treats as absent, and are not declared `secret: true`:
    the CLI (3.202+) fills a declared secret's plain default before validating and then
    refuses it as unencrypted (pulumi/pulumi#21865), so every stack that leaves one unset
    would fail. The program itself refuses a plain value for them (infra.config).
    """
    block: dict[str, Any] = {}
    defaults = StackConfig().model_dump(by_alias=True, exclude_none=True)
    for field in StackConfig.model_fields.values():
        key = field.alias or ""
        entry: dict[str, Any] = {
            "type": _project_type(field),
            "description": field.description or "",
        }
        if entry["type"] == "array":
            entry["items"] = {"type": "object"}
        if _strip_optional(field.annotation) is SecretValue:
            entry["default"] = ""
        else:
            entry["default"] = defaults[key]
        block[key] = entry
    return block


def project_file_text(current: str) -> str:
    """Pulumi.yaml with its `config:` block regenerated; the lines above it are kept."""
    head, marker, _ = current.partition("\nconfig:")
    if not marker:
        raise SystemExit("Pulumi.yaml has no top-level `config:` line to replace")
    body = yaml.safe_dump(
        {"config": project_config_block()}, sort_keys=False, default_flow_style=False, width=100
    )
    return head + "\n" + body


# --- README ---------------------------------------------------------------------------


def _stack_files(root: Path) -> dict[str, dict[str, Any]]:
    stacks = {}
    for name in stack_names(root):
        stacks[name] = stack_file_section(name, root)
    return stacks


def _lookup(section: dict[str, Any], project: str, key: str) -> Any:
    top, *rest = key.split(".")
    node: Any = section.get(f"{project}:{top}", section.get(top))
    for part in rest:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "(secret)"
    text = value if isinstance(value, str) else json.dumps(value)
    return "`" + text.replace("|", "\\|") + "`"


def readme_table(root: Path = REPO_ROOT) -> str:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    stacks = _stack_files(root)
    header = ["Key", "Type", "Default", *stacks, "Description"]
    lines = [
        f"Keys are `{project}:<key>`; dotted keys are fields of an object key (`pulumi config "
        "set --path`). Empty default: unset (the chart's or server's own default applies). "
        "Generated by `python -m infra.docs --write` from `infra/config/schema.py`.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for doc in key_docs():
        default = "" if doc.secret else _cell(doc.default)
        values = [_cell(_lookup(section, project, doc.key)) for section in stacks.values()]
        row = [f"`{doc.key}`", doc.type, default, *values, doc.description.replace("|", "\\|")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


PROFILES_START, PROFILES_END = "<!-- model-profiles:start -->", "<!-- model-profiles:end -->"


def profiles_tables() -> str:
    """The quantizations and GPU products the profile check knows (infra/config/hardware.py)."""
    architectures = sorted(
        {arch for q in hardware.QUANTIZATIONS.values() for arch in q.architectures},
        key=[p.architecture for p in hardware.GPU_PRODUCTS.values()].index,
    )
    lines = [
        "Generated by `python -m infra.docs --write` from `infra/config/hardware.py` "
        "(TensorRT-LLM's hardware support matrix, PyTorch backend).",
        "",
        "| `model.quantization` | What | Bytes/parameter | " + " | ".join(architectures) + " |",
        "|---|---|---|" + "---|" * len(architectures),
    ]
    for q in hardware.QUANTIZATIONS.values():
        marks = ["yes" if arch in q.architectures else "" for arch in architectures]
        row = [f"`{q.name}`", q.description, f"{q.bytes_per_parameter:.3g}", *marks]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"| `gpu.nodeSelector` `{hardware.GPU_PRODUCT_LABEL}` | Architecture | Memory (GiB) |",
        "|---|---|---|",
    ]
    for p in hardware.GPU_PRODUCTS.values():
        lines.append(f"| `{p.label}` | {p.architecture} | {p.memory_gib:g} |")
    return "\n".join(lines)


SPOT_START, SPOT_END = "<!-- spot-conventions:start -->", "<!-- spot-conventions:end -->"


def spot_table() -> str:
    """Each platform's spot node label and taint (infra/config/spot.py)."""
    lines = [
        "Generated by `python -m infra.docs --write` from `infra/config/spot.py`.",
        "",
        "| `spot.provider` | Platform | Spot node label (any) | Taint tolerated | Notice | "
        "Drained by |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in spot.SPOT_CONVENTIONS.items():
        labels = "<br>".join(f"`{key}={value}`" for key, value in c.labels)
        taints = "<br>".join(f"`{key}={value}:NoSchedule`" for key, value in c.taints) or "none"
        row = [f"`{name}`", c.platform, labels, taints, f"{c.notice_seconds} s", c.drained_by]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    before, found_start, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not (found_start and found_end):
        raise SystemExit(f"README.md lacks the {start} ... {end} markers")
    return f"{before}{start}\n{body}\n{end}{after}"


def readme_text(current: str, root: Path = REPO_ROOT) -> str:
    text = _replace_between(current, START, END, readme_table(root))
    text = _replace_between(text, SPOT_START, SPOT_END, spot_table())
    return _replace_between(text, PROFILES_START, PROFILES_END, profiles_tables())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.docs", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite README.md and Pulumi.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 if either is out of date")
    args = parser.parse_args(argv)
    targets = {
        README: readme_text(README.read_text()),
        PROJECT_FILE: project_file_text(PROJECT_FILE.read_text()),
    }
    stale = [path for path, text in targets.items() if path.read_text() != text]
    if args.write:
        for path in stale:
            path.write_text(targets[path])
        return 0
    for path in stale:
        print(f"{path.name} is out of date: run `python -m infra.docs --write`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
