"""Several models in one stack: each entry of `models` is a profile over the stack's keys.

An entry names a model and overrides any per-release key of the stack (model, engine,
tensorParallelSize, replicas, autoscaling, resources, ... any key not in SHARED_KEYS),
deep-merged over the stack's own values and validated by `StackConfig` itself, so a new
per-release section needs no change here. A model may run two versions at once (a
stable one and a canary), each its own Helm release and InferencePool, with traffic
weights that the shared HTTPRoute applies.

A stack without `models` is one release named `releaseName`, exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from infra.config.issues import ConfigIssue, issues_from, show
from infra.config.schema import ModelEntry, StackConfig

# Keys every release shares: the namespace and its guard rails, the image, the secrets,
# the routing in front of the pools and the cluster add-ons. Every other key is per release.
SHARED_KEYS = frozenset(
    {
        "namespace",
        "releaseName",
        "requireApiKeys",
        "image",
        "registry",
        "keda",
        "routing",
        "monitoring",
        "prometheusAdapter",
        "quota",
        "limitRange",
        "networkPolicy",
        "ingress",
        "registryPassword",
        "hfToken",
        "apiKeys",
        "canaryAnalysis",
        "models",
    }
)
# The version label of a model that runs one unnamed version.
DEFAULT_VERSION = "default"
# Gateway API caps an HTTPRoute at 16 rules; one of them answers /v1/models.
MAX_MODELS = 15
# Helm keeps 10 of a name's 63 characters for its own suffixes (the releaseName key's limit).
MAX_RELEASE_NAME = 53


@dataclass(frozen=True)
class Release:
    """One Helm release of the server chart and the stack config it is rendered from."""

    resource_name: str  # the Pulumi component's name (its URN)
    model: str | None  # the entry's name; None for a stack without `models`
    version: str | None
    weight: int | None
    config: StackConfig  # the stack's keys with this release's overrides applied
    # The other models' names, for a release that answers the gateway's /v1/models.
    listed_models: tuple[str, ...] = ()
    # The stack's first release ships what one stack needs once (the dashboard).
    primary: bool = True

    @property
    def served_model_name(self) -> str | None:
        return self.config.model.served_model_name


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: objects merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _relocated(issue: ConfigIssue, prefix: str) -> ConfigIssue:
    return ConfigIssue(f"{prefix}.{issue.key}", issue.expected, issue.got)


def expand(config: StackConfig) -> tuple[list[Release], list[ConfigIssue]]:
    """The stack's releases, or the issues of the model entries that stop them."""
    if not config.models:
        return [Release("server", None, None, None, config)], []
    base = config.model_dump(by_alias=True, exclude={"models"}, exclude_none=True)
    releases: list[Release] = []
    issues: list[ConfigIssue] = []
    for i, entry in enumerate(config.models):
        where = f"models[{i}]"
        overrides = dict(entry.model_extra or {})
        issues += _shared_key_issues(overrides, where)
        model_raw = deep_merge(base, overrides)
        # A version without its own served name serves the model's; the entry's name
        # is the default served name, so clients and metrics see one name per model.
        served = (overrides.get("model") or {}).get("servedModelName") or entry.name
        model_raw = deep_merge(model_raw, {"model": {"servedModelName": served}})
        versions = entry.versions or [None]
        for j, version in enumerate(versions):
            raw, key_prefix = model_raw, where
            release_name = entry.name
            if version is not None:
                key_prefix = f"{where}.versions[{j}]"
                extra = dict(version.model_extra or {})
                issues += _shared_key_issues(extra, key_prefix)
                if "servedModelName" in (extra.get("model") or {}):
                    issues.append(
                        ConfigIssue(
                            f"{key_prefix}.model.servedModelName",
                            f"set it on {where}: every version serves the model's name",
                            show(extra["model"]["servedModelName"]),
                        )
                    )
                raw = deep_merge(model_raw, extra)
                release_name = f"{entry.name}-{version.name}"
            if len(release_name) > MAX_RELEASE_NAME:
                issues.append(
                    ConfigIssue(
                        f"{where}.name",
                        f"with its version must make a release name of at most "
                        f"{MAX_RELEASE_NAME} characters",
                        release_name,
                    )
                )
                continue
            raw = {**raw, "releaseName": release_name}
            try:
                release_config = StackConfig.model_validate(raw)
            except ValidationError as error:
                issues += [_relocated(issue, key_prefix) for issue in issues_from(error)]
                continue
            release_config.set_stack_release_name(config.release_name)
            releases.append(
                Release(
                    resource_name=f"server-{release_name}",
                    model=entry.name,
                    version=version.name if version else DEFAULT_VERSION,
                    weight=version.weight if version else None,
                    config=release_config,
                )
            )
    if issues or not releases:
        return releases, issues
    return _with_stack_roles(releases), issues


def _with_stack_roles(found: list[Release]) -> list[Release]:
    """The first model's releases answer /v1/models (the route sends it there) and list
    every other model; only the first release ships the dashboard."""
    names = list(dict.fromkeys(r.served_model_name or "" for r in found))
    first = found[0].model
    return [
        replace(
            release,
            listed_models=tuple(n for n in names if n != release.served_model_name)
            if release.model == first
            else (),
            primary=index == 0,
        )
        for index, release in enumerate(found)
    ]


def _shared_key_issues(overrides: Mapping[str, Any], where: str) -> list[ConfigIssue]:
    return [
        ConfigIssue(
            f"{where}.{key}", "is shared by every model: set it at the top level", show(value)
        )
        for key, value in overrides.items()
        if key in SHARED_KEYS
    ]


def model_rules(config: StackConfig, releases: list[Release]) -> list[ConfigIssue]:
    """Rules across the model entries: unique names, weights, routing that splits traffic."""
    issues: list[ConfigIssue] = []
    if config.canary_analysis.enabled and not config.monitoring.enabled:
        issues.append(
            ConfigIssue(
                "canaryAnalysis.enabled",
                "needs monitoring.enabled: the analysis reads the series the ServiceMonitor "
                "labels with model_name and version",
                "true",
            )
        )
    if not config.models:
        return issues
    if len(config.models) > MAX_MODELS:
        issues.append(
            ConfigIssue(
                "models",
                f"at most {MAX_MODELS} models (an HTTPRoute holds 16 rules, one is /v1/models)",
                str(len(config.models)),
            )
        )
    names: dict[str, int] = {}
    for i, entry in enumerate(config.models):
        if entry.name in names:
            issues.append(
                ConfigIssue(
                    f"models[{i}].name",
                    f"must be unique (models[{names[entry.name]}] has it too)",
                    entry.name,
                )
            )
        names.setdefault(entry.name, i)
        issues += _version_rules(config, i, entry)
    served: dict[str, str] = {}
    for release in releases:
        name = release.served_model_name or ""
        owner = served.setdefault(name, release.model or "")
        if owner != release.model:
            index = next(i for i, e in enumerate(config.models) if e.name == release.model)
            issues.append(
                ConfigIssue(
                    f"models[{index}].model.servedModelName",
                    f"must be unique: model {owner} serves it too",
                    name,
                )
            )
    split = next((i for i, e in enumerate(config.models) if e.versions), None)
    if split is not None and config.routing.mode != "inferencePool":
        issues.append(
            ConfigIssue(
                "routing.mode",
                f"must be inferencePool when models[{split}].versions split traffic "
                "(the HTTPRoute's backend weights)",
                config.routing.mode,
            )
        )
    prefills = {r.config.model_cache_prefill for r in releases}
    if len(prefills) > 1:
        odd = next(
            r for r in releases if r.config.model_cache_prefill != config.model_cache_prefill
        )
        index = next(i for i, e in enumerate(config.models) if e.name == odd.model)
        issues.append(
            ConfigIssue(
                f"models[{index}].modelCache.prefill",
                "must be the same for every model: the hub NetworkPolicy admits either the "
                "prefill Jobs or the servers",
                show(odd.config.model_cache_prefill),
            )
        )
    if config.ingress.enabled:
        issues.append(
            ConfigIssue(
                "ingress.enabled",
                "must be false with models: one host cannot route by the request's model; "
                "use routing.mode inferencePool",
                "true",
            )
        )
    return issues


def _version_rules(config: StackConfig, i: int, entry: ModelEntry) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if not entry.versions:
        return issues
    where = f"models[{i}].versions"
    seen = [v.name for v in entry.versions]
    if len(set(seen)) != len(seen):
        issues.append(ConfigIssue(where, "version names must differ", show(seen)))
    weights = [v.weight for v in entry.versions]
    if sum(weights) != 100:
        issues.append(
            ConfigIssue(
                where,
                "weights must add up to 100",
                "+".join(str(w) for w in weights) + f" = {sum(weights)}",
            )
        )
    return issues


def for_release(issue: ConfigIssue, config: StackConfig, release: Release) -> ConfigIssue:
    """An issue found in a release's config, naming the `models` key that set the value."""
    if release.model is None:
        return issue
    i, entry = next((i, e) for i, e in enumerate(config.models) if e.name == release.model)
    top = issue.key.split(".")[0].split("[")[0]
    version = next((v for v in entry.versions if v.name == release.version), None)
    if version is not None and top in (version.model_extra or {}):
        return _relocated(issue, f"models[{i}].versions[{entry.versions.index(version)}]")
    if top in (entry.model_extra or {}):
        return _relocated(issue, f"models[{i}]")
    return ConfigIssue(
        issue.key, f"{issue.expected} (release {release.config.release_name})", issue.got
    )


def releases(config: StackConfig) -> list[Release]:
    """The releases of a validated stack (parse() has refused any entry that stops one)."""
    found, issues = expand(config)
    if issues:
        raise ValueError(f"stack config was not validated: {issues[0]}")
    return found
