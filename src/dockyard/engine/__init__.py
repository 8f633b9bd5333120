"""Containers and their lifecycle; the composition root and the API's only door.

The engine holds the image, network, volume and monitor rooms together (it imports the monitor's
client side only) and is the one room the API may import. Everything the API names is exported
here: ``Engine`` and its services (``ContainerService``, ``ExecService``, ``ImageFacade``,
``EventBus``, ``SystemService``), the container records (``Container``, ``ContainerConfig``,
``HostConfig``, ...) and the views the services return (``ContainerDetails``, ``AttachSession``,
``LogEntry``, ``Event``, ``SystemInfo``, ...). Field names are the snake_case of Docker's JSON
names, so the API maps them mechanically; Docker's wording of errors lives in ``dockyard.errors``.
"""

from __future__ import annotations

from dockyard.engine.attach import AttachSession
from dockyard.engine.container import (
    BlkioWeightDevice,
    Container,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    DeviceMapping,
    EndpointSettings,
    HealthConfig,
    HealthState,
    HostConfig,
    LogConfig,
    MountSpec,
    NetworkingConfig,
    PortBinding,
    RestartPolicy,
    ThrottleDevice,
    Ulimit,
)
from dockyard.engine.container_service import ContainerService
from dockyard.engine.details import (
    ContainerDetails,
    ContainerListing,
    EndpointInfo,
    MountPoint,
    NetworkSettings,
)
from dockyard.engine.engine import Engine
from dockyard.engine.events import Event, EventBus
from dockyard.engine.execs import ExecConfig, ExecService, ExecSession
from dockyard.engine.images import (
    EMPTY_CONTAINER_CONFIG,
    HistoryEntry,
    ImageDetails,
    ImageFacade,
    ImageSummary,
    Progress,
)
from dockyard.engine.logs import LogEntry
from dockyard.engine.system import (
    API_VERSION,
    MIN_API_VERSION,
    ComponentVersion,
    IndexInfo,
    RegistryInfo,
    RuntimeInfo,
    SystemInfo,
    SystemService,
    VersionInfo,
)

__all__ = [
    "API_VERSION",
    "EMPTY_CONTAINER_CONFIG",
    "MIN_API_VERSION",
    "AttachSession",
    "BlkioWeightDevice",
    "ComponentVersion",
    "Container",
    "ContainerConfig",
    "ContainerDetails",
    "ContainerListing",
    "ContainerService",
    "ContainerState",
    "ContainerStatus",
    "DeviceMapping",
    "EndpointInfo",
    "EndpointSettings",
    "Engine",
    "Event",
    "EventBus",
    "ExecConfig",
    "ExecService",
    "ExecSession",
    "HealthConfig",
    "HealthState",
    "HistoryEntry",
    "HostConfig",
    "ImageDetails",
    "ImageFacade",
    "ImageSummary",
    "IndexInfo",
    "LogConfig",
    "LogEntry",
    "MountPoint",
    "MountSpec",
    "NetworkSettings",
    "NetworkingConfig",
    "PortBinding",
    "Progress",
    "RegistryInfo",
    "RestartPolicy",
    "RuntimeInfo",
    "SystemInfo",
    "SystemService",
    "ThrottleDevice",
    "Ulimit",
    "VersionInfo",
]
