"""`python -m infra.image_plan --stack S`: how CI builds the server image for stack S.

The deploy workflow builds and pushes the image in its own job (on a runner with the
disk a 12-15 GB image needs, with a registry build cache) and hands the digest to
`pulumi up` as `image.ref`, so the deploy job never builds and its timeout covers
only the rollout. The build settings come from the stack file through the same
validation and `build_args()` as a local `pulumi up`, so both build the same image.

Prints `key=value` lines in the format of `$GITHUB_OUTPUT` (a multi-line value as a
heredoc): `prebuilt-ref` (the stack's `image.ref`, empty when the stack builds),
`repository`, `target`, `platform`, `registry`, `username`, `build-args`.
Exit status: 0, or 2 when the stack file is missing or invalid.
"""

from __future__ import annotations

import argparse
import sys

from infra.config import ConfigError, StackConfig, StackFileError
from infra.image import build_args
from infra.stack import USAGE_ERROR, load_stack, stack_error_line

HEREDOC_DELIMITER = "EOF_BUILD_ARGS"


def plan(config: StackConfig) -> dict[str, str]:
    """The image job's inputs for this stack (strings; empty where unset)."""
    image = config.image
    return {
        "prebuilt-ref": image.ref or "",
        "repository": image.repository or "",
        "target": config.image_target,
        "platform": image.platform,
        "registry": config.registry.server or "",
        "username": config.registry.username or "",
        "build-args": "\n".join(f"{k}={v}" for k, v in sorted(build_args(config).items())),
    }


def github_output(values: dict[str, str]) -> str:
    lines = []
    for key, value in values.items():
        if "\n" in value:
            lines += [f"{key}<<{HEREDOC_DELIMITER}", value, HEREDOC_DELIMITER]
        else:
            lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.image_plan", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        config = load_stack(args.stack)
    except (StackFileError, ConfigError) as error:
        print(stack_error_line(args.stack, error), file=sys.stderr)
        return USAGE_ERROR
    sys.stdout.write(github_output(plan(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
