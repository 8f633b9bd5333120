"""Small stdlib-only helpers used by two or more rooms.

util is a toolbox, not a room with one door: import its modules one by one
(``from dockyard.util import libc``). The runtime and the monitor start at every container
start and must import only what they use, so this file imports nothing.

Modules: ``atomicfile`` (durable file replacement), ``clock`` (time seam), ``db`` (the state
database), ``humantime`` (Go's HumanDuration, for "Up 3 minutes"), ``ids`` (IDs and prefix
lookup), ``jsoncodec`` (JSON without ``re``), ``libc`` (ctypes syscalls), ``locks`` (flock and
keyed asyncio locks), ``proc`` (subprocesses with timeouts), ``securejoin`` (paths resolved
inside a root).
"""

__all__: list[str] = []
