"""Prompt sets: built in, or read from a .jsonl / .txt file."""

from __future__ import annotations

import json
from pathlib import Path

BUILT_IN: tuple[str, ...] = (
    "What is artificial intelligence?",
    "Explain machine learning in simple terms.",
    "How does a neural network learn from data?",
    "What are the benefits and costs of cloud computing?",
    "Describe how a GPU speeds up matrix multiplication.",
    "Write a short poem about Kubernetes scheduling.",
    "Summarise the causes of the French Revolution in three sentences.",
    "Give three tips for writing readable Python code.",
)


class PromptFileError(ValueError):
    """A prompt file that cannot be used; the message names the file and line."""


def load_prompts(path: Path) -> list[str]:
    """Prompts from `path`: .jsonl lines are {"prompt": ...} objects (or "text", or a
    bare JSON string); any other file has one prompt per non-empty line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PromptFileError(f"--prompts {path}: cannot read ({exc.strerror})") from None
    prompts: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            prompts.append(_jsonl_prompt(path, number, line))
        else:
            prompts.append(line.strip())
    if not prompts:
        raise PromptFileError(f"--prompts {path}: no prompts in the file")
    return prompts


def _jsonl_prompt(path: Path, number: int, line: str) -> str:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"--prompts {path}:{number}: not JSON ({exc.msg})") from None
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("prompt", "text"):
            if isinstance(item.get(key), str):
                return item[key]
    raise PromptFileError(
        f"--prompts {path}:{number}: expected a string or an object with a 'prompt' string"
    )
