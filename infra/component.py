"""What every component of this program takes last: Pulumi's resource options, None
for the defaults (`depends_on` travels there, as Pulumi's component docs have it)."""

from __future__ import annotations

import pulumi

ComponentOpts = pulumi.ResourceOptions | None
