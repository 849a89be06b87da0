"""The Pulumi program run offline, under Pulumi's mocks: every resource it would register.

The program runs the way the Pulumi language host runs it (runpy on the program
directory, run_name __main__), with the project read from Pulumi.yaml and the config
given as the engine gives it: every value a string, objects as JSON, secret keys
listed as secret. A recording monitor keeps each RegisterResource request (type,
name, parent, dependencies, inputs); mocks echo inputs as outputs, plus what providers
compute that the program reads (an image's digest, a release's status).

`python -m infra.render` uses this to show everything a stack creates, and the tests
use it to check the program; neither needs a cluster, a registry or the Pulumi CLI.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from infra.config import SecretValue, project_name, raw_from_stack_file, stack_file_section

INFRA_DIR = Path(__file__).resolve().parent
REPO_ROOT = INFRA_DIR.parent
IMAGE_TYPE = "docker:index/image:Image"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    aliases: list[tuple[str, str]]  # (former name, former parent URN)

    def plain(self, key: str) -> Any:
        """An input with Pulumi's secret wrappers removed."""
        return unwrap(self.inputs.get(key))

    def plain_all(self) -> dict[str, Any]:
        """Every input with Pulumi's secret wrappers removed."""
        return {key: unwrap(value) for key, value in self.inputs.items()}


def unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, plus what providers compute that the program reads."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == IMAGE_TYPE:
            repository = unwrap(args.inputs["imageName"]).rpartition(":")[0]
            outputs["repoDigest"] = f"{repository}@{self.digest}"
        if args.typ == RELEASE_TYPE:
            outputs["status"] = {"status": "deployed", "name": args.inputs.get("name")}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object),
                    aliases=[(a.spec.name, a.spec.parentUrn) for a in request.aliases],
                )
            )
        return response


@dataclass
class ProgramRun:
    config: Mapping[str, str]
    secret_keys: list[str]
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    error: pulumi.RunError | None = None

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str) -> Registration:
        found = [r for r in self.of_type(type_token) if r.name == name]
        assert len(found) == 1, f"expected one {type_token} named {name}, got {self.names()}"
        return found[0]

    def names(self) -> list[tuple[str, str]]:
        return sorted((r.type, r.name) for r in self.registrations)

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def descendants(self, urn: str) -> Iterator[Registration]:
        for r in self.registrations:
            if r.parent == urn:
                yield r
                yield from self.descendants(r.urn)


def engine_value(value: Any) -> str:
    """A stack-file value as the engine hands it to the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def engine_config(
    stack: str, secrets: Mapping[str, str], root: Path = REPO_ROOT
) -> tuple[dict[str, str], list[str]]:
    """(config, secret keys) of a stack file as the engine would pass them, each secret
    the stack file holds replaced by `secrets[key]` (its ciphertext cannot be read)."""
    project = project_name(root)
    raw, _ = raw_from_stack_file(stack_file_section(stack, root), project)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full_key = f"{project}:{key}"
        if isinstance(value, SecretValue):
            config[full_key] = secrets[key]
            secret_keys.append(full_key)
        else:
            config[full_key] = engine_value(value)
    return config, secret_keys


def run_program(
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    stack: str = "test",
    digest: str = "sha256:" + "0" * 64,
) -> ProgramRun:
    """Run infra/__main__.py once under mocks; the run records everything it did."""
    run = ProgramRun(config=dict(config), secret_keys=list(secret_keys or []))
    # Pulumi's test runner drives the program on the thread's current loop; an
    # earlier asyncio.run() leaves the thread with none.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks(digest)
    monitor = RecordingMonitor(mocks)
    project = project_name()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(run.config, run.secret_keys)
    exports: dict[str, pulumi.Output[Any]] = {}
    real_export = pulumi.export

    @pulumi.runtime.test
    def program() -> Any:
        pulumi.export = lambda name, value: exports.__setitem__(
            name, pulumi.Output.from_input(value)
        )
        try:
            runpy.run_path(str(INFRA_DIR), run_name="__main__")
        except pulumi.RunError as error:
            run.error = error
            return None
        finally:
            pulumi.export = real_export

        async def collect() -> None:
            for name, output in exports.items():
                run.outputs[name] = await output.future()
                if await output.is_secret():
                    run.secret_outputs.add(name)

        return asyncio.ensure_future(collect())

    program()
    run.registrations = monitor.registrations
    return run
