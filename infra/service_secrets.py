"""The Secrets the server reads: HF token, API keys and the image pull secret.

Values come from `pulumi config set --secret` keys and stay secret Outputs all the way
into the Secret objects, so state, previews and diffs show `[secret]`. The chart only
ever gets the Secret *names* (chart_values), never a value.

(The module is not called `secrets.py`: Pulumi runs infra/ with that directory first
on sys.path, where such a file would shadow the standard library's `secrets`, which
pydantic imports.)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.component import ComponentOpts
from infra.config import SecretValue, StackConfig

# Keys inside the Secrets: the server's environment variable names (service/settings.py
# reads API_KEYS; huggingface_hub reads HF_TOKEN), which the chart maps one to one.
HF_TOKEN_KEY = "HF_TOKEN"
API_KEYS_KEY = "API_KEYS"


@dataclass(frozen=True)
class SecretNames:
    """Names of the Secrets the stack creates; None where the stack needs none."""

    hf_token: str | None
    api_keys: str | None
    image_pull: str | None


def secret_names(config: StackConfig) -> SecretNames:
    # Named after the stack, not a model's release: every release reads the same Secrets.
    release = config.stack_release_name
    return SecretNames(
        hf_token=f"{release}-hf-token" if config.hf_token is not None else None,
        api_keys=f"{release}-api-keys" if config.api_keys is not None else None,
        image_pull=f"{release}-registry" if config.registry.private else None,
    )


def dockerconfigjson(server: str, username: str, password: str) -> str:
    """The .dockerconfigjson document kubelet reads for a private registry."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps(
        {"auths": {server: {"username": username, "password": password, "auth": auth}}}
    )


@dataclass(frozen=True)
class RegistryLogin:
    server: str
    username: str
    password: pulumi.Input[str]


@dataclass(frozen=True)
class ServerSecretsArgs:
    namespace: pulumi.Input[str]
    names: SecretNames
    hf_token: pulumi.Input[str] | None
    api_keys: pulumi.Input[str] | None
    registry: RegistryLogin | None  # for the image pull secret

    @classmethod
    def for_stack(cls, config: StackConfig, namespace: pulumi.Input[str]) -> ServerSecretsArgs:
        def value(secret: SecretValue | None) -> pulumi.Input[str] | None:
            return None if secret is None else secret.value

        registry, password = config.registry, config.registry_password
        login = None
        if registry.private and password is not None:
            login = RegistryLogin(registry.server or "", registry.username or "", password.value)
        return cls(
            namespace=namespace,
            names=secret_names(config),
            hf_token=value(config.hf_token),
            api_keys=value(config.api_keys),
            registry=login,
        )


class ServerSecrets(pulumi.ComponentResource):
    """Creates the stack's Secrets in the server namespace."""

    names: SecretNames

    def __init__(self, name: str, args: ServerSecretsArgs, opts: ComponentOpts = None) -> None:
        super().__init__("tensorrt-llm:index:ServerSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names = args.names
        created: dict[str, pulumi.Output[str]] = {}

        def secret(
            suffix: str, object_name: str, data: dict[str, pulumi.Input[str]], kind: str
        ) -> None:
            resource = k8s.core.v1.Secret(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=args.namespace),
                type=kind,
                string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
                opts=child,
            )
            created[suffix] = resource.metadata.apply(lambda meta: meta.name)

        if args.names.hf_token and args.hf_token is not None:
            secret("hf-token", args.names.hf_token, {HF_TOKEN_KEY: args.hf_token}, "Opaque")
        if args.names.api_keys and args.api_keys is not None:
            secret("api-keys", args.names.api_keys, {API_KEYS_KEY: args.api_keys}, "Opaque")
        login = args.registry
        if args.names.image_pull and login is not None:
            document = pulumi.Output.from_input(login.password).apply(
                lambda password: dockerconfigjson(login.server, login.username, password)
            )
            secret(
                "image-pull",
                args.names.image_pull,
                {".dockerconfigjson": document},
                "kubernetes.io/dockerconfigjson",
            )
        self.register_outputs(dict(created))
