"""One module per API resource: parse the request, call the engine, shape the answer."""

from __future__ import annotations

__all__: list[str] = []
