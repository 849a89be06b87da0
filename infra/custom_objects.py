"""Custom resources the program applies itself, one Pulumi resource each.

A value inside a Helm release previews as the release's values; an object of its own
previews field by field (a route's weight, an analysis threshold), which is why the
shared HTTPRoute and the canary AnalysisTemplates are applied this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from infra.component import ComponentOpts


@dataclass(frozen=True)
class CustomObject:
    api_version: str
    kind: str
    name: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class CustomObjectsArgs:
    namespace: pulumi.Input[str]
    objects: dict[str, CustomObject]  # by the child resource's name suffix


class CustomObjects(pulumi.ComponentResource):
    """A component of namespaced custom resources; subclasses name its type."""

    TYPE: ClassVar[str]

    def __init__(self, name: str, args: CustomObjectsArgs, opts: ComponentOpts = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        for suffix, obj in args.objects.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{suffix}",
                api_version=obj.api_version,
                kind=obj.kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=obj.name, namespace=args.namespace),
                spec=obj.spec,
                opts=child,
            )
        self.register_outputs({})
