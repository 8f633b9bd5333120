"""Containers and their lifecycle; the composition root and the API's only door.

Holds the image, network, volume and monitor rooms together; imports the monitor's client side only."""

from __future__ import annotations

__all__: list[str] = []
