"""`dockyard`, docker's command line: a client of the Engine API and nothing more.

Imports only `dockyard.errors` and `dockyard.util`; it never loads daemon code."""

from __future__ import annotations

__all__: list[str] = []
