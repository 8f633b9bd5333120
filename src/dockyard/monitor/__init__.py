"""dockyard-monitor: one process per container process (and per exec); it outlives the daemon.

The room owns the monitor program (``main``, ``supervisor``, ``stdio``, ``attach``, ``zygote``:
synchronous, stdlib-only, reached only as a program) and its client side, which is all this
door exports: ``MonitorClient`` and ``MonitorConfig`` to start and drive a monitor,
``ExitRecord`` for how a process ended, ``Zygote``/``ExecLauncher`` to start monitors, and the
json-file log reader (``read_log``, ``follow_log``, ``LogEntry``) for ``docker logs``. It imports
only ``oci``, ``util`` and ``errors``.

Names resolve lazily (PEP 562 ``__getattr__``): the monitor program imports this package on its
way to ``dockyard.monitor.main`` and must not load the client's asyncio.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.monitor.client import AttachStream, MonitorClient, MonitorState
    from dockyard.monitor.logfile import LogEntry, follow_log, read_log
    from dockyard.monitor.protocol import ExitRecord
    from dockyard.monitor.settings import MonitorConfig
    from dockyard.monitor.spawner import ExecLauncher, Launcher, Zygote

__all__ = [
    "AttachStream",
    "ExecLauncher",
    "ExitRecord",
    "Launcher",
    "LogEntry",
    "MonitorClient",
    "MonitorConfig",
    "MonitorState",
    "Zygote",
    "follow_log",
    "read_log",
]

_HOMES = {
    "AttachStream": "client",
    "MonitorClient": "client",
    "MonitorState": "client",
    "LogEntry": "logfile",
    "follow_log": "logfile",
    "read_log": "logfile",
    "ExitRecord": "protocol",
    "MonitorConfig": "settings",
    "ExecLauncher": "spawner",
    "Launcher": "spawner",
    "Zygote": "spawner",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dockyard.monitor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"dockyard.monitor.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
