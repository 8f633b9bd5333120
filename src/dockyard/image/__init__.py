"""Images on disk: the content store, image records, unpacked layers, pull and transfer.

Must not import network, volume or monitor; uses the registry client for distribution."""

from __future__ import annotations

__all__: list[str] = []
