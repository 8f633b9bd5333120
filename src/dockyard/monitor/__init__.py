"""dockyard-monitor: one process per container process (and per exec); it outlives the daemon.

The door exports only the client side (what the engine uses); the process side is reached as a
program. Names are resolved lazily so that starting the monitor program does not import the
client's asyncio.
"""

from __future__ import annotations

__all__: list[str] = []
