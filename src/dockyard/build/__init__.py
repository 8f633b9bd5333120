"""The Dockerfile builder (a later issue)."""

from __future__ import annotations

__all__: list[str] = []
