"""The image room: images on disk, from registry bytes to a container's root filesystem.

It owns the content store (blobs by digest, committed only once verified), the image records
(ID = config digest, tags, repo digests) in the state database, layers unpacked once per chain
ID and stacked with overlayfs under Docker's init layer and a container's writable layer, the
pull pipeline, ``save``/``load``/``import``, and garbage collection. Its one entry point is
:class:`ImageService`; :class:`Image`, :class:`Progress`, :class:`HistoryEntry` and
:class:`Mount` are the values it hands out.

It uses the registry client (``dockyard.registry``) to fetch, and never imports the network,
volume or monitor rooms: the engine brings them together.
"""

from __future__ import annotations

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
