"""The OCI contracts as plain types, and a client for runc-grammar runtimes.

Import its modules one by one (``from dockyard.oci import runtime_spec``): the runtime and the
monitor start at every container start and load only the modules they use, so this door imports
nothing eagerly.
"""

from __future__ import annotations

__all__: list[str] = []
