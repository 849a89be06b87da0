"""The Pulumi program: read the stack's config, create the components, export outputs.

Config is validated completely before the first resource is registered; a bad stack
stops here with one line per bad key.
"""

import pulumi

from infra.gpu import GpuDevicePlugin
from infra.image import ServerImage
from infra.namespace import ServerNamespace
from infra.release import ServerRelease, service_port
from infra.service_secrets import ServerSecrets
from infra.stack import load

config = load()

namespace = ServerNamespace("server-namespace", config)
secrets = ServerSecrets("server-secrets", config, namespace=namespace.name)
image = ServerImage("server-image", config)
device_plugin = GpuDevicePlugin("gpu", config) if config.device_plugin_enabled else None
release = ServerRelease(
    "server",
    config,
    namespace=namespace.name,
    image_ref=image.image_ref,
    depends_on=[r for r in (namespace, secrets, device_plugin) if r is not None],
)

port = service_port()
pulumi.export("namespace", namespace.name)
pulumi.export("releaseName", release.release_name)
pulumi.export("releaseStatus", release.release_status)
pulumi.export("imageRef", image.image_ref)
pulumi.export(
    "serviceUrl",
    pulumi.Output.format(
        "http://{0}.{1}.svc.cluster.local:{2}", release.release_name, namespace.name, port
    ),
)
pulumi.export(
    "portForwardCommand",
    pulumi.Output.format(
        "kubectl --namespace {0} port-forward service/{1} {2}:{2}",
        namespace.name,
        release.release_name,
        port,
    ),
)
