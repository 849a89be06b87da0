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

import sys

from infra.config import StackConfig
from infra.image import build_args
from infra.stack import BAD_STACK, load_stack, report_bad_stack, stack_tool_parser

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
    args = stack_tool_parser("infra.image_plan", __doc__).parse_args(argv)
    try:
        config = load_stack(args.stack)
    except BAD_STACK as error:
        return report_bad_stack(args.stack, error)
    sys.stdout.write(github_output(plan(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
