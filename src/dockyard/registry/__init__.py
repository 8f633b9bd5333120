"""The OCI distribution client: references, HTTP, auth. No disks."""

from __future__ import annotations

__all__: list[str] = []
