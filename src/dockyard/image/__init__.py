"""The image room: images on disk, from registry bytes to a container's root filesystem.

It owns the content store (blobs by digest, committed only once verified), the image records
(ID = config digest, tags, repo digests) in the state database, layers unpacked once per chain
ID and stacked with overlayfs under Docker's init layer and a container's writable layer, the
pull and push pipelines, ``save``/``load``/``import``/``commit``, and garbage collection. Its one
entry point is :class:`ImageService`; :class:`Image`, :class:`Progress`, :class:`HistoryEntry`,
:class:`CommitRequest` and :class:`Mount` are the values it trades in.

It uses the registry client (``dockyard.registry``) to fetch and push, and never imports the
network, volume or monitor rooms: the engine brings them together.

Names resolve lazily (PEP 562 ``__getattr__``): the room contains a small program, the layer
unpacker (``python -m dockyard.image.unpacker``), which imports this package on its way and
must not load the service, SQLite and the registry client at every layer.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.image.archive import ApplyOptions
    from dockyard.image.commit import CommitRequest
    from dockyard.image.gc import GcReport
    from dockyard.image.mount import Mount
    from dockyard.image.progress import Progress
    from dockyard.image.service import HistoryEntry, ImageService, UsedBy
    from dockyard.image.store import Image

__all__ = [
    "ApplyOptions",
    "CommitRequest",
    "GcReport",
    "HistoryEntry",
    "Image",
    "ImageService",
    "Mount",
    "Progress",
    "UsedBy",
]

_HOMES = {
    "ApplyOptions": "archive",
    "CommitRequest": "commit",
    "GcReport": "gc",
    "Mount": "mount",
    "Progress": "progress",
    "HistoryEntry": "service",
    "ImageService": "service",
    "UsedBy": "service",
    "Image": "store",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dockyard.image' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"dockyard.image.{home}"), name)
    globals()[name] = value
    return value
