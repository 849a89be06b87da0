"""`python -m infra.render --stack S [--out DIR]`: everything `pulumi up` creates for S.

A `helm.v3.Release` preview shows only a values diff and `pulumi preview` shows no
manifests, so pull requests review this instead. The stack file goes through the same
validation (`infra.stack`), then the real program runs offline under Pulumi's mocks
(`infra.offline`), and each resource it registers is written out:

- Kubernetes objects the program creates itself (namespaces with their Pod Security
  labels, quota, LimitRange, NetworkPolicies, Secrets) as manifests under
  `program/<namespace>/`; Secrets with every value redacted (names and keys only).
- The server's chart, rendered by the real Helm engine (helm-python-sdk) with the very
  values the program passes its Release, under `tensorrt-llm/templates/` (with
  `models`, one `<release>/tensorrt-llm/templates/` per release).
- Releases of upstream charts (NVIDIA device plugin, prometheus-adapter) as their
  inputs (chart, version, repository, values): their templates come from the chart
  repository at deploy time.
- The image build, as its inputs.

Placeholders are labelled where they appear: a built image's digest (the push returns
the real one) and secret values.

Exit status: 0 rendered, 1 a template failed, 2 the stack file is missing, unreadable
or invalid (its keys, or values the chart refuses).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python
import yaml

from infra.chart import CHART_DIR, render_chart
from infra.offline import IMAGE_TYPE, RELEASE_TYPE, REPO_ROOT, Registration, engine_config
from infra.offline import run_program as run_offline
from infra.stack import BAD_STACK, load_stack, report_bad_stack, stack_tool_parser
from infra.values import PLACEHOLDER_DIGEST, expected_cluster_apis

RENDER_ERROR = 1
REDACTED = "<redacted>"
PROGRAM_DIR = "program"
DIGEST_NOTE = f"# PLACEHOLDER: {PLACEHOLDER_DIGEST} stands for the digest the image push returns.\n"
SECRET_NOTE = (
    "# Secret values are redacted: the cluster gets them from the stack's encrypted config.\n"
)
UPSTREAM_NOTE = (
    "# A Helm release of an upstream chart: its templates come from the chart repository\n"
    "# at deploy time, so this shows what decides them, the program's inputs.\n"
)
IMAGE_NOTE = "# The server image the program builds and pushes (its build inputs).\n"
CHART_SECRET_NOTE = (
    "# Secret values are redacted: the chart generates them at install and keeps them.\n"
)


class _StandIns(dict):
    """Every secret the stack file holds reads as the redaction marker."""

    def __missing__(self, key: str) -> str:
        return REDACTED


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=True, default_flow_style=False)


def _redacted(values: Any) -> Any:
    if isinstance(values, dict):
        return {key: REDACTED for key in values}
    return values


def _manifest(registration: Registration) -> tuple[str, str]:
    """(path, text) of a Kubernetes object the program creates."""
    document = {k: v for k, v in registration.plain_all().items() if v is not None}
    kind = document.get("kind", registration.type.rsplit(":", 1)[1])
    metadata = document.get("metadata") or {}
    name = metadata.get("name") or registration.name
    namespace = metadata.get("namespace") or "cluster"
    note = ""
    if kind == "Secret":
        for field in ("data", "stringData"):
            if field in document:
                document[field] = _redacted(document[field])
        note = SECRET_NOTE
    return f"{PROGRAM_DIR}/{namespace}/{kind.lower()}-{name}.yaml", note + _dump(document)


def _chart_secrets_redacted(text: str) -> str:
    """A template's output with the values of any Secret it renders redacted: a key the
    chart generates (a multi-node group's SSH key) differs on every offline render and
    belongs in no pull-request comment."""
    documents = [d for d in yaml.safe_load_all(text) if d]
    if not any(d.get("kind") == "Secret" for d in documents):
        return text
    for document in documents:
        if document.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if field in document:
                    document[field] = _redacted(document[field])
    return CHART_SECRET_NOTE + "---\n".join(_dump(d) for d in documents)


def _upstream_release(registration: Registration) -> tuple[str, str]:
    inputs = registration.plain_all()
    namespace = inputs.get("namespace") or "default"
    document = {
        "release": inputs.get("name"),
        "namespace": namespace,
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "values": inputs.get("values") or {},
    }
    path = f"{PROGRAM_DIR}/{namespace}/helm-release-{inputs.get('name')}.yaml"
    return path, UPSTREAM_NOTE + _dump(document)


def _image(registration: Registration) -> tuple[str, str]:
    inputs = registration.plain_all()
    document = {
        "imageName": inputs.get("imageName"),
        "build": inputs.get("build"),
        "repoDigest": f"{str(inputs.get('imageName')).rpartition(':')[0]}@{PLACEHOLDER_DIGEST}",
    }
    return f"{PROGRAM_DIR}/image-{registration.name}.yaml", IMAGE_NOTE + DIGEST_NOTE + _dump(
        document
    )


def _is_local_chart(registration: Registration) -> bool:
    return not registration.plain("repositoryOpts")


def render_all(stack: str, root: Path = REPO_ROOT) -> dict[str, str]:
    """{path: text} of everything the stack's program creates; raises StackFileError or
    ConfigError for a bad stack, helm_python.HelmError when a template fails."""
    config = load_stack(stack, root)
    engine, secret_keys = engine_config(stack, _StandIns(), root)
    run = run_offline(engine, secret_keys, stack=stack, digest=PLACEHOLDER_DIGEST)
    if run.error is not None:
        raise run.error
    files: dict[str, str] = {}
    for registration in run.registrations:
        if not registration.custom:
            continue  # components group resources; they create nothing themselves
        if registration.type == RELEASE_TYPE and _is_local_chart(registration):
            rendered = render_chart(
                registration.plain("values"),
                release=registration.plain("name"),
                namespace=registration.plain("namespace"),
                api_versions=expected_cluster_apis(config),
                chart_dir=CHART_DIR,
            )
            # Several releases of the chart: one directory each, named after the release.
            prefix = f"{registration.plain('name')}/" if config.models else ""
            for path, text in rendered.items():
                if text.strip() and not path.endswith("NOTES.txt"):
                    note = DIGEST_NOTE if PLACEHOLDER_DIGEST in text else ""
                    files[prefix + path] = note + _chart_secrets_redacted(text)
        elif registration.type == RELEASE_TYPE:
            path, text = _upstream_release(registration)
            files[path] = text
        elif registration.type == IMAGE_TYPE:
            path, text = _image(registration)
            files[path] = text
        elif registration.type.startswith("kubernetes:"):
            path, text = _manifest(registration)
            files[path] = text
    return dict(sorted(files.items()))


def write_tree(manifests: dict[str, str], out: Path) -> None:
    for template, text in manifests.items():
        target = out / template
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.rstrip() + "\n")


def as_stream(manifests: dict[str, str]) -> str:
    return "".join(f"---\n# Source: {path}\n{text.strip()}\n" for path, text in manifests.items())


def main(argv: list[str] | None = None) -> int:
    parser = stack_tool_parser("infra.render", __doc__)
    parser.add_argument("--out", type=Path, help="write one file per object under DIR")
    args = parser.parse_args(argv)
    try:
        manifests = render_all(args.stack)
    except BAD_STACK as error:
        return report_bad_stack(args.stack, error)
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
