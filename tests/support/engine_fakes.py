"""Fakes with behaviour for the engine's unit tests: record builders, a fake OCI runtime, a fake
monitor, a fake clock.

Kept apart from ``tests/support/fakes.py`` (the API's FakeEngine lives there) so that two
engineers never edit one file.
"""

from __future__ import annotations

from dockyard.engine.container import (
    Container,
    ContainerConfig,
    ContainerState,
    HostConfig,
    NetworkingConfig,
)
from dockyard.util import ids

__all__ = ["make_container"]


def make_container(
    *,
    name: str = "web",
    container_id: str | None = None,
    config: ContainerConfig | None = None,
    host_config: HostConfig | None = None,
    state: ContainerState | None = None,
) -> Container:
    """A plausible container record, for stores and state machines."""
    config = config or ContainerConfig(image="busybox", cmd=("sh",))
    return Container(
        id=container_id or ids.new_id(),
        name=name,
        created="2024-01-02T03:04:05.000000001Z",
        path=(config.cmd or ("sh",))[0],
        args=tuple((config.cmd or ())[1:]),
        config=config,
        host_config=host_config or HostConfig(),
        networking_config=NetworkingConfig(),
        image_id="sha256:" + "e" * 64,
        state=state or ContainerState(),
    )
