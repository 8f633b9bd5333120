"""One module per command group: container, image, system."""

from __future__ import annotations

__all__: list[str] = []
