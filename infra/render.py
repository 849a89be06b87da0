"""`python -m infra.render --stack S [--out DIR]`: the manifests Helm would apply for S.

A `helm.v3.Release` preview shows only a values diff, so pull requests review this
instead: the stack file goes through the same validation (`infra.stack`) and the same
`chart_values()` as `pulumi up`, and the real Helm engine (helm-python-sdk) renders
the chart offline. Secrets appear as placeholder Secret names (never values); a stack
that builds its image gets a placeholder digest in place of the one the push returns.

Exit status: 0 rendered, 1 a template failed, 2 the stack file is missing, unreadable
or invalid (its keys, or values the chart refuses).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import helm_python

from infra.config import ConfigError, StackFileError
from infra.stack import USAGE_ERROR, load_stack, stack_error_line
from infra.values import render_stack

RENDER_ERROR = 1


def write_tree(manifests: dict[str, str], out: Path) -> None:
    for template, text in manifests.items():
        target = out / template
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.rstrip() + "\n")


def as_stream(manifests: dict[str, str]) -> str:
    return "".join(f"---\n# Source: {path}\n{text.strip()}\n" for path, text in manifests.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.render", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="write one file per template under DIR")
    args = parser.parse_args(argv)
    try:
        manifests = render_stack(load_stack(args.stack))
    except (StackFileError, ConfigError) as error:
        print(stack_error_line(args.stack, error), file=sys.stderr)
        return USAGE_ERROR
    except helm_python.HelmError as error:
        reason = " ".join(str(error).split())
        print(f"error: helm rejected stack {args.stack}: {reason}", file=sys.stderr)
        return RENDER_ERROR
    if args.out:
        write_tree(manifests, args.out)
    else:
        sys.stdout.write(as_stream(manifests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
