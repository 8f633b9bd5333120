"""The images facade: Docker's image endpoints over the image room.

Skeleton: the behaviour lands when the image room does.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["HistoryEntry", "ImageDetails", "ImageFacade", "ImageSummary", "Progress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """One pull/load/import progress event (the image room's ``Progress``; re-exported when it lands).

    The API renders it as Docker's JSON message ``{"status", "id", "progressDetail": {"current",
    "total"}, "progress": "[==>  ] 1.2MB/3.4MB"}``.
    """

    status: str
    id: str | None = None
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSummary:
    """One row of ``GET /images/json``. ``created`` is seconds since the epoch."""

    id: str
    parent_id: str = ""
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: int = 0
    size: int = 0
    shared_size: int = -1
    labels: dict[str, str] = field(default_factory=dict)
    containers: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDetails:
    """``GET /images/{name}/json``.

    ``config`` is the image config's ``config`` object in Docker's JSON form (``Env``, ``Cmd``,
    ``Entrypoint``, ...), kept verbatim as the image carries it; ``created`` is RFC 3339.
    """

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    parent: str = ""
    comment: str = ""
    created: str = ""
    docker_version: str = ""
    author: str = ""
    config: dict[str, object] = field(default_factory=dict)
    architecture: str = ""
    variant: str = ""
    os: str = ""
    os_version: str = ""
    size: int = 0
    graph_driver: dict[str, object] = field(default_factory=dict)
    root_fs: dict[str, object] = field(default_factory=dict)  # {"Type": "layers", "Layers": [...]}
    last_tag_time: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One row of ``GET /images/{name}/history`` (newest first). ``id`` is ``<missing>`` for
    intermediate steps, as Docker shows them; ``created`` is seconds since the epoch."""

    id: str
    created: int
    created_by: str
    tags: tuple[str, ...] = ()
    size: int = 0
    comment: str = ""


class ImageFacade:
    """Docker's image operations: query forms parsed, container usage checked, events published.

    Errors of a streaming operation (pull, import, load) are raised from the iterator: raised
    before the first item they are the HTTP answer; raised later the API renders them as the final
    ``{"errorDetail": {"message": ...}, "error": ...}`` message, as dockerd does.
    """

    def pull(
        self, *, from_image: str, tag: str, platform: str | None, registry_auth: str | None
    ) -> AsyncIterator[Progress]:
        """Pull an image: ``tag`` "" pulls all tags, ``tag`` "sha256:..." pulls by digest.

        Raises:
            InvalidArgument: a bad reference or platform.
            NotFound, Unauthorized, Unavailable: the registry's answer, in Docker's words.
        """
        raise NotImplementedError

    def import_image(
        self,
        chunks: AsyncIterator[bytes],
        *,
        repo: str,
        tag: str,
        message: str,
        changes: list[str],
        platform: str | None,
    ) -> AsyncIterator[Progress]:
        """Import a root filesystem tarball as a one-layer image (``docker import``)."""
        raise NotImplementedError

    def list(
        self,
        *,
        all: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
        digests: bool = False,
        shared_size: bool = False,
    ) -> builtins.list[ImageSummary]:
        """The images, newest first. Raises InvalidArgument for a bad filter."""
        raise NotImplementedError

    def inspect(self, name: str) -> ImageDetails:
        """One image by reference, ID or ID prefix. Raises NoSuchImage."""
        raise NotImplementedError

    def history(self, name: str) -> builtins.list[HistoryEntry]:
        """The image's build history, newest first. Raises NoSuchImage."""
        raise NotImplementedError

    def tag(self, name: str, *, repo: str, tag: str) -> None:
        """Add the reference ``repo:tag`` to an image. Raises NoSuchImage, InvalidArgument."""
        raise NotImplementedError

    def remove(
        self, name: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[tuple[str, str]]:
        """Untag and/or delete; returns [("Untagged"|"Deleted", value)]. Raises NoSuchImage, ImageInUse."""
        raise NotImplementedError

    def save(self, names: builtins.list[str]) -> AsyncIterator[bytes]:
        """A docker-save tar stream of the named images. Raises NoSuchImage."""
        raise NotImplementedError

    def load(self, chunks: AsyncIterator[bytes], *, quiet: bool = False) -> AsyncIterator[Progress]:
        """Load a docker-save (or OCI layout) tar stream; ends with "Loaded image: ..." events."""
        raise NotImplementedError

    def prune(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        """Remove dangling (or with ``dangling=false`` all unused) images; returns (deleted, space)."""
        raise NotImplementedError
