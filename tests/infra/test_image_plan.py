"""The deploy workflow's image job builds what `pulumi up` would build for the stack."""

from __future__ import annotations

import pytest

from infra.image import build_args
from infra.image_plan import main
from infra.stack import load_stack


def github_output(text: str) -> dict[str, str]:
    """Parse `key=value` and `key<<DELIM ... DELIM` lines as GitHub Actions does."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[key] = "\n".join(body)
        else:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_prod_plan_is_the_programs_build(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "prod"]) == 0
    plan = github_output(capsys.readouterr().out)
    config = load_stack("prod")
    assert plan["prebuilt-ref"] == ""
    assert plan["repository"] == config.image.repository
    assert plan["target"] == "runtime"
    assert plan["registry"] == config.registry.server
    expected = {f"{k}={v}" for k, v in build_args(config).items()}
    assert set(plan["build-args"].splitlines()) == expected and expected


def test_an_unknown_stack_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Pulumi.nosuch.yaml" in err
