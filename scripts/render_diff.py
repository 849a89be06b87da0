"""Diff the Kubernetes manifests of every stack between two checkouts, as PR markdown.

    python scripts/render_diff.py --base BASE_DIR --head HEAD_DIR --out comment.md

Each side renders with its own code (`python -m infra.render --stack S --out DIR`
run inside that checkout), so the diff shows what merging would change in the
manifests Helm applies. Stacks are the Pulumi.<stack>.yaml files of either side. The
first line of the output is a marker the workflow uses to update one sticky comment.
Exit status: 0, or 1 when the head fails to render (the base may predate
infra.render; that is reported, not fatal).
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- rendered-manifests-diff -->"
# GitHub rejects comments over 65536 characters; keep room for the headings.
BODY_BUDGET = 60_000
RENDER_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Rendered:
    files: dict[str, str]
    error: str | None = None


@dataclass(frozen=True)
class StackDiff:
    stack: str
    diff: str
    changed_files: int
    note: str


def stacks_in(tree: Path) -> set[str]:
    return {
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in tree.glob("Pulumi.*.yaml")
    }


def render(tree: Path, stack: str, out: Path) -> Rendered:
    if not (tree / f"Pulumi.{stack}.yaml").is_file():
        return Rendered(files={}, error=f"no Pulumi.{stack}.yaml")
    # This checkout's own `infra` package must win over any installed one.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "infra.render", "--stack", stack, "--out", str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        last_lines = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        return Rendered(files={}, error=f"render failed: {last_lines}")
    return Rendered(files=read_tree(out))


def read_tree(root: Path) -> dict[str, str]:
    if root.is_file():
        return {root.name: root.read_text()}
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def diff_trees(base: dict[str, str], head: dict[str, str]) -> tuple[str, int]:
    chunks: list[str] = []
    changed = 0
    for name in sorted(base.keys() | head.keys()):
        before, after = base.get(name, ""), head.get(name, "")
        if before == after:
            continue
        changed += 1
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"a/{name}" if name in base else "/dev/null",
                tofile=f"b/{name}" if name in head else "/dev/null",
            )
        )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return text, changed


def stack_diff(stack: str, base: Rendered, head: Rendered) -> StackDiff:
    diff, changed = diff_trees(base.files, head.files)
    notes = [f"{side}: {r.error}" for side, r in (("base", base), ("head", head)) if r.error]
    return StackDiff(stack=stack, diff=diff, changed_files=changed, note="; ".join(notes))


def to_markdown(diffs: list[StackDiff], budget: int = BODY_BUDGET) -> str:
    lines = [MARKER, "### Rendered Kubernetes manifests: base → head", ""]
    lines.append(
        "What `python -m infra.render` produces for each stack (secrets are placeholders)."
    )
    lines.append("")
    share = budget // max(len(diffs), 1)
    for item in diffs:
        diff_lines = item.diff.splitlines()
        added = sum(1 for line in diff_lines if line[:1] == "+" and line[:3] != "+++")
        removed = sum(1 for line in diff_lines if line[:1] == "-" and line[:3] != "---")
        summary = (
            f"<b>{item.stack}</b>: no changes"
            if not item.diff
            else f"<b>{item.stack}</b>: {item.changed_files} file(s) changed, +{added} -{removed}"
        )
        if item.note:
            summary += f" ({item.note.splitlines()[0]})"
        lines.append(f"<details{' open' if item.diff else ''}><summary>{summary}</summary>")
        lines.append("")
        if item.note and "\n" in item.note:
            lines += ["```text", item.note, "```", ""]
        if item.diff:
            body = item.diff
            if len(body) > share:
                body = body[:share] + f"\n... diff cut at {share} characters; render locally.\n"
            lines += ["````diff", body.rstrip("\n"), "````", ""]
        lines.append("</details>")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout of the PR's base")
    parser.add_argument("--head", type=Path, required=True, help="checkout of the PR's head")
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    args = parser.parse_args(argv)

    stacks = sorted(stacks_in(args.base) | stacks_in(args.head))
    diffs: list[StackDiff] = []
    head_failed = False
    with tempfile.TemporaryDirectory(prefix="render-diff-") as scratch:
        for stack in stacks:
            base = render(args.base.resolve(), stack, Path(scratch, "base", stack))
            head = render(args.head.resolve(), stack, Path(scratch, "head", stack))
            head_failed |= head.error is not None and (args.head / f"Pulumi.{stack}.yaml").is_file()
            diffs.append(stack_diff(stack, base, head))
    args.out.write_text(to_markdown(diffs))
    print(f"wrote {args.out}: {', '.join(f'{d.stack}={d.changed_files}' for d in diffs)}")
    return 1 if head_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
