"""Bridge networking in libnetwork's vocabulary (a later issue)."""

from __future__ import annotations

__all__: list[str] = []
