"""The server's chart (infra/charts/tensorrt-llm) as a Helm release.

The Release's values come from `infra.values.chart_values`, as `python -m infra.render`'s
do, so what a pull request reviews is what `pulumi up` installs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.chart import chart_digest, chart_path_for_helm
from infra.component import ComponentOpts
from infra.config import StackConfig
from infra.helm import release_status

# Added to modelLoadTimeoutSeconds for Helm's wait: pulling a multi-GB CUDA image and
# scheduling happen before the startup probe's clock starts.
HELM_TIMEOUT_MARGIN_SECONDS = 600


def release_timeout_seconds(config: StackConfig) -> int:
    return config.model_load_timeout_seconds + HELM_TIMEOUT_MARGIN_SECONDS


@dataclass(frozen=True)
class ServerReleaseArgs:
    release_name: str
    namespace: pulumi.Input[str]
    values: pulumi.Input[dict[str, Any]]
    timeout_seconds: int


class ServerRelease(pulumi.ComponentResource):
    """The tensorrt-llm chart as a Helm release (history, rollback, `helm status`)."""

    release_name: pulumi.Output[str]
    release_status: pulumi.Output[str]

    def __init__(self, name: str, args: ServerReleaseArgs, opts: ComponentOpts = None) -> None:
        super().__init__("tensorrt-llm:index:ServerRelease", name, None, opts)
        # The Python SDK does not hand a component's depends_on to its children; the
        # Release records them itself, so install and destroy both keep the order.
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=args.release_name,
                chart=chart_path_for_helm(),
                namespace=args.namespace,
                values=args.values,
                # A template-only chart edit changes this, so it is previewed and applied.
                description=f"tensorrt-llm chart sha256:{chart_digest()}",
                timeout=args.timeout_seconds,
                # A failed upgrade removes what it created instead of leaving half a rollout.
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=child,
        )
        self.release_name = release.name.apply(lambda value: value or args.release_name)
        self.release_status = release_status(release)
        self.register_outputs(
            {"releaseName": self.release_name, "releaseStatus": self.release_status}
        )
