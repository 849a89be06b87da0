"""The server image: built from service/Dockerfile and pushed, or a prebuilt reference.

The chart gets the pushed image's `repo_digest` (repository@sha256:...), so a new build
changes the pod template and rolls the pods, and a rebuild of identical content
changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.component import ComponentOpts
from infra.config import StackConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "service" / "Dockerfile"


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way the chart's image values want it."""

    repository: str
    tag: str | None
    digest: str | None


def parse_image_ref(ref: str) -> ImageRef:
    """Split `registry:port/repo:tag@sha256:...`; a registry port is not a tag."""
    name, _, digest = ref.partition("@")
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return ImageRef(name[:colon], name[colon + 1 :], digest or None)
    return ImageRef(name, None, digest or None)


def build_args(config: StackConfig) -> dict[str, str]:
    """Dockerfile ARGs for the stack's target (unset ones keep the Dockerfile's defaults)."""
    if config.image_target == "cpu":
        # The CPU stage installs the server extra, plus CPU torch for the transformers engine.
        extras = "server,transformers" if config.engine == "transformers" else "server"
        return {"CPU_EXTRAS": extras}
    if config.image.tensorrt_llm_version:
        return {"TRTLLM_VERSION": config.image.tensorrt_llm_version}
    return {}


def _relative(path: Path) -> str:
    # Stored in state: relative paths keep previews stable across checkout locations.
    return os.path.relpath(path, Path.cwd())


@dataclass(frozen=True)
class ImageBuild:
    """How to build and push the image: service/Dockerfile at `target`."""

    image_name: str  # repository:tag
    target: str
    platform: str
    build_args: dict[str, str]
    registry: docker.RegistryArgs | None  # login for the push


@dataclass(frozen=True)
class ServerImageArgs:
    ref: str | None  # prebuilt: used as is
    build: ImageBuild | None

    @classmethod
    def for_stack(cls, config: StackConfig) -> ServerImageArgs:
        image = config.image
        if image.ref:
            return cls(ref=image.ref, build=None)
        assert image.repository is not None  # config rules: ref or repository
        registry = None
        if config.registry.server and config.registry_password is not None:
            registry = docker.RegistryArgs(
                server=config.registry.server,
                username=config.registry.username,
                password=config.registry_password.value,
            )
        build = ImageBuild(
            image_name=f"{image.repository}:{image.tag or pulumi.get_stack()}",
            target=config.image_target,
            platform=image.platform,
            build_args=build_args(config),
            registry=registry,
        )
        return cls(ref=None, build=build)


class ServerImage(pulumi.ComponentResource):
    """The image the server pods run; `image_ref` is what the chart gets."""

    image_ref: pulumi.Output[str]

    def __init__(self, name: str, args: ServerImageArgs, opts: ComponentOpts = None) -> None:
        super().__init__("tensorrt-llm:index:ServerImage", name, None, opts)
        if args.build is None:
            self.image_ref = pulumi.Output.from_input(args.ref or "")
        else:
            built = docker.Image(
                f"{name}-build",
                image_name=args.build.image_name,
                build=docker.DockerBuildArgs(
                    context=_relative(REPO_ROOT),
                    dockerfile=_relative(DOCKERFILE),
                    target=args.build.target,
                    platform=args.build.platform,
                    args=args.build.build_args,
                ),
                registry=args.build.registry,
                skip_push=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.image_ref = built.repo_digest
        self.register_outputs({"imageRef": self.image_ref})
