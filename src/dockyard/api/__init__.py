"""The Docker Engine API over HTTP: server, routes, handlers, Docker's errors and quirks.

Reaches the machinery only through the engine's door (and the builder for /build)."""

from __future__ import annotations

__all__: list[str] = []
