"""Engine: builds the stores and services, recovers containers at start, shuts down in order.

Skeleton: the behaviour lands with the services.
"""

from __future__ import annotations

from dockyard.config import DaemonConfig
from dockyard.engine.container_service import ContainerService
from dockyard.engine.events import EventBus
from dockyard.engine.execs import ExecService
from dockyard.engine.images import ImageFacade
from dockyard.engine.system import SystemService

__all__ = ["Engine"]


class Engine:
    """The composition root: everything the API calls hangs off one Engine."""

    containers: ContainerService
    execs: ExecService
    images: ImageFacade
    events: EventBus
    system: SystemService

    @classmethod
    async def open(cls, config: DaemonConfig) -> Engine:
        """Build the stores and services for ``config`` and recover existing containers.

        Raises:
            CorruptRecord: the state database cannot be used.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Orderly shutdown: stop background work, close stores. Containers keep running."""
        raise NotImplementedError
