"""OciRuntime: drives runc, crun or dockyard-runtime through their command line."""

from __future__ import annotations
