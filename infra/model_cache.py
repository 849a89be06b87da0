"""The model cache prefill: the chart's claim, download Job and optional quantize Job,
applied before the Release.

Why the program and not a Helm pre-install/pre-upgrade hook: a hook Job runs on every
upgrade of the release (any values change), is invisible in `pulumi preview`, and is
not part of the release (Helm neither diffs nor deletes it); and the claim it fills
would have to be a hook too, since hooks run before the release's own objects exist.
Here the Job is a Pulumi resource named after model path + revision (the chart's
tensorrt-llm.modelCache.prefillJobName): a preview shows it being created or replaced,
the same model leaves it untouched (nothing runs again), a new revision replaces it
(the download runs), and the Release depends on it, so the server's pods are created
only after the Job completed (pulumi-kubernetes waits for a Job's Complete condition).

The quantize Job (modelCache.quantize) follows the same rules one step later: it
depends on the download Job, is named after path + revision + quantization, and the
Release waits for it, so a new quantization runs it, a re-apply does not.

The objects themselves come from the chart (templates/pvc.yaml,
model-cache-prefill-job.yaml and model-cache-quantize-job.yaml, rendered with
modelCache.prefillJob.render), so their names, labels, security contexts and volumes
are the chart's, as for every pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.chart import chart_default, render_chart
from infra.component import ComponentOpts
from infra.config import StackConfig
from infra.values import chart_values, expected_cluster_apis

CLAIM_TEMPLATE = "tensorrt-llm/templates/pvc.yaml"
JOB_TEMPLATE = "tensorrt-llm/templates/model-cache-prefill-job.yaml"
QUANTIZE_TEMPLATE = "tensorrt-llm/templates/model-cache-quantize-job.yaml"
# Beyond the Job's own deadline: pulling the server image and scheduling the pod.
AWAIT_MARGIN_SECONDS = 600


def prefill_manifests(config: StackConfig, image_ref: str) -> dict[str, dict[str, Any]]:
    """{template: object} of the claim (when the chart creates one), the prefill Job and
    the quantize Job (when the stack quantizes)."""
    values = chart_values(config, image_ref)
    values.setdefault("modelCache", {}).setdefault("prefillJob", {})["render"] = True
    files = render_chart(
        values,
        release=config.release_name,
        namespace=config.namespace,
        api_versions=expected_cluster_apis(config),
    )
    return {
        template: yaml.safe_load(files[template])
        for template in (CLAIM_TEMPLATE, JOB_TEMPLATE, QUANTIZE_TEMPLATE)
        if files.get(template, "").strip()
    }


@dataclass(frozen=True)
class ModelCachePrefillArgs:
    manifests: pulumi.Output[dict[str, dict[str, Any]]]
    creates_claim: bool
    timeout_seconds: int
    # None: no quantize Job; else how long Pulumi waits for it.
    quantize_timeout_seconds: int | None = None

    @classmethod
    def for_stack(cls, config: StackConfig, image_ref: pulumi.Output[str]) -> ModelCachePrefillArgs:
        quantize_deadline = int(chart_default("modelCache.quantizeJob.activeDeadlineSeconds"))
        return cls(
            manifests=image_ref.apply(lambda ref: prefill_manifests(config, ref)),
            creates_claim=config.model_cache_claim_created,
            timeout_seconds=config.model_load_timeout_seconds + AWAIT_MARGIN_SECONDS,
            quantize_timeout_seconds=(
                quantize_deadline + AWAIT_MARGIN_SECONDS if config.model_cache_quantize else None
            ),
        )


class ModelCachePrefill(pulumi.ComponentResource):
    """The model cache claim and the Job that downloads the model into it."""

    job_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelCachePrefillArgs, opts: ComponentOpts = None) -> None:
        super().__init__("tensorrt-llm:index:ModelCachePrefill", name, None, opts)
        depends = list(opts.depends_on or []) if opts and opts.depends_on else []
        child = pulumi.ResourceOptions(parent=self, depends_on=depends)

        def part(template: str, field: str) -> pulumi.Output[Any]:
            return args.manifests.apply(lambda manifests: manifests[template][field])

        claims = []
        if args.creates_claim:
            metadata = part(CLAIM_TEMPLATE, "metadata").apply(_claim_metadata)
            claims.append(
                k8s.core.v1.PersistentVolumeClaim(
                    f"{name}-claim",
                    metadata=metadata,
                    spec=part(CLAIM_TEMPLATE, "spec"),
                    # Like the chart's helm.sh/resource-policy: keep, downloaded weights
                    # outlive `pulumi destroy`; delete the claim by hand to free them.
                    opts=pulumi.ResourceOptions.merge(
                        child, pulumi.ResourceOptions(retain_on_delete=True)
                    ),
                )
            )

        def cache_job(suffix: str, template: str, after: list[Any], timeout: int) -> Any:
            return k8s.batch.v1.Job(
                f"{name}-{suffix}",
                metadata=part(template, "metadata"),
                spec=part(template, "spec"),
                opts=pulumi.ResourceOptions.merge(
                    child,
                    pulumi.ResourceOptions(
                        depends_on=after,
                        custom_timeouts=pulumi.CustomTimeouts(
                            create=f"{timeout}s", update=f"{timeout}s"
                        ),
                        # The Job is what it produces, and its name says that: a new image
                        # digest alone must not run it again. (A new model still gets
                        # every other new field: only the image is kept.)
                        ignore_changes=["spec.template.spec.containers[0].image"],
                    ),
                ),
            )

        job = cache_job("job", JOB_TEMPLATE, claims, args.timeout_seconds)
        outputs = {"jobName": _name_of(job)}
        quantize_timeout = args.quantize_timeout_seconds
        if quantize_timeout is not None:
            quantize = cache_job("quantize", QUANTIZE_TEMPLATE, [job], quantize_timeout)
            outputs["quantizeJobName"] = _name_of(quantize)
        self.job_name = outputs["jobName"]
        self.register_outputs(outputs)


def _name_of(job: k8s.batch.v1.Job) -> pulumi.Output[str]:
    return job.metadata.apply(lambda meta: meta["name"] if isinstance(meta, dict) else meta.name)


def _claim_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    # An unbound claim (WaitForFirstConsumer classes) binds when the Job's pod mounts
    # it, which is after Pulumi would wait for it: do not wait.
    annotations = {**metadata.get("annotations", {}), "pulumi.com/skipAwait": "true"}
    return {**metadata, "annotations": annotations}
