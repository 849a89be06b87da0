"""The dev stack serves the model name the demo and the README use: `simulated`."""

from __future__ import annotations

import re

import yaml

from infra.stack import load_stack
from infra.values import render_stack
from service.engines import create_engine
from service.settings import Settings
from tests.tools import REPO_ROOT


def server_env(stack: str) -> dict[str, str]:
    for text in render_stack(load_stack(stack)).values():
        for doc in yaml.safe_load_all(text):
            if doc and doc["kind"] == "Deployment":
                (container,) = [
                    c
                    for c in doc["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "server"
                ]
                return {e["name"]: e["value"] for e in container["env"] if "value" in e}
    raise AssertionError(f"{stack} renders no Deployment")


async def served_name(env: dict[str, str]) -> str:
    settings = Settings(
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    )
    return (await create_engine(settings).load()).model_name


async def test_dev_pods_serve_the_name_the_demo_uses() -> None:
    env = server_env("dev")
    assert "MODEL_PATH" not in env, "the simulated engine loads no model"
    assert await served_name(env) == "simulated"
    demo = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    assert set(re.findall(r'"model": "([^"]+)"', demo)) == {"simulated"}


def test_prod_pods_serve_the_stacks_served_model_name() -> None:
    prod = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]
    env = server_env("prod")
    assert env["MODEL_PATH"] == prod["tensorrt-llm:model"]["path"]
    assert env["SERVED_MODEL_NAME"] == prod["tensorrt-llm:model"]["servedModelName"]
