"""The images facade: Docker's image endpoints over the image room.

The image room knows images; this facade adds what only the engine knows or what belongs to the
Engine API's edge:

- **Query forms.** ``fromImage`` with or without a tag, the digest the CLI sends in ``tag``
  (``tag=sha256:...``), ``tag=""`` on a bare name meaning "all tags", platform strings, and
  ``X-Registry-Auth`` headers (``registry.AuthConfig.from_header``).
- **Container usage.** ``rmi`` must refuse an image a container uses (Docker's conflict rules
  live in the image room; the engine answers its ``used_by`` question from the container store),
  and ``/images/json`` can count containers per image.
- **Events.** ``pull``, ``push``, ``tag``, ``untag``, ``delete``, ``import``, ``load``, ``save``, as dockerd
  publishes them (actor: the image ID or the reference; attribute ``name``).
- **Records for the API**: ``ImageSummary``, ``ImageDetails``, ``HistoryEntry``, with the image
  config's ``config`` object shown verbatim as inspect does.

**Blocking work** (deleting layers for ``rmi`` and ``image prune``) runs in worker threads, so a
big image's removal never stalls the event loop; events are published back on the loop.

Errors of a streaming operation (pull, import, load) are raised from the iterator: raised before
the first item they are the HTTP answer; raised later the API renders them as the final
``{"errorDetail": {"message": ...}, "error": ...}`` message, as dockerd does.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.engine.events import Event, EventBus
from dockyard.engine.seams import ImageDefaults, ResolvedImage
from dockyard.engine.timestamps import format_time
from dockyard.errors import InvalidArgument, NoSuchImage, NotFound
from dockyard.image import Image, ImageService, Progress
from dockyard.image.importer import EMPTY_CONTAINER_CONFIG
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ImageConfig, Platform
from dockyard.registry import AuthConfig, Reference

__all__ = [
    "EMPTY_CONTAINER_CONFIG",
    "HistoryEntry",
    "ImageDetails",
    "ImageFacade",
    "ImageSummary",
    "Progress",
]

UsedBy = Callable[[str], builtins.list[tuple[str, bool]]]


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


def parse_pull_reference(from_image: str, tag: str) -> tuple[Reference, bool]:
    """(reference, all tags?) from ``/images/create``'s ``fromImage`` and ``tag``.

    Raises:
        InvalidArgument: a bad reference, tag or digest (Docker's "invalid reference format").
    """
    ref = Reference.parse(from_image)
    if tag:
        if tag.startswith("sha256:") or ":" in tag:
            try:
                return ref.with_digest(Digest.parse(tag)), False
            except (ValueError, InvalidArgument):
                raise InvalidArgument("invalid reference format") from None
        return ref.with_tag(tag), False
    if ref.tag is None and ref.digest is None:
        return ref, True
    return ref, False


def parse_platform(text: str | None) -> Platform | None:
    """A ``platform=`` value, or None when empty.

    Raises:
        InvalidArgument: not a platform string.
    """
    return Platform.parse(text) if text else None


class ImageFacade:
    """Docker's image operations: query forms parsed, container usage checked, events published."""

    def __init__(
        self, service: ImageService, events: EventBus, *, used_by: UsedBy, merged_dir: Callable[[str], Path]
    ) -> None:
        """``used_by(image_id)`` lists ``(container_id, running)`` for ``rmi``'s conflict rules;
        ``merged_dir(container_id)`` is where a container's root filesystem is mounted."""
        self._service = service
        self._events = events
        self._used_by = used_by
        self._merged_dir = merged_dir

    # --- for the container service (seams.ImageSource; the engine calls the filesystem ones,
    # which block, from worker threads) --------------------------------------------------------
    def resolve(self, name: str) -> ResolvedImage:
        """The image a create request names, with the defaults a container inherits.

        Raises:
            NoSuchImage: nothing is called ``name`` (Docker's "No such image: x:latest").
        """
        image = self._service.get(name)
        return ResolvedImage(id=image.id, defaults=_defaults(self._service.config(image)))

    def image_id_for(self, name: str) -> str | None:
        """The ID ``name`` names now, or None."""
        try:
            return self._service.get(name).id
        except (NoSuchImage, InvalidArgument):
            return None

    def create_rootfs(self, container_id: str, image_id: str) -> None:
        """The container's init and writable layers (blocking)."""
        self._service.create_rootfs(container_id, self._service.store.get(image_id))

    def mount_rootfs(self, container_id: str, target: Path) -> None:
        """Mount the container's root filesystem (blocking)."""
        self._service.mount_rootfs(container_id, target)

    def unmount_rootfs(self, container_id: str, target: Path) -> None:
        """Unmount it (blocking)."""
        self._service.unmount_rootfs(container_id, target)

    def remove_rootfs(self, container_id: str) -> None:
        """Delete the container's layers (blocking)."""
        self._service.remove_rootfs(container_id)

    def rootfs_usage(self, container_id: str) -> tuple[int, int]:
        """(SizeRw, SizeRootFs) (blocking)."""
        return self._service.rootfs_usage(container_id)

    def graph_driver(self, container_id: str) -> dict[str, object]:
        """Inspect's ``GraphDriver`` of a container."""
        try:
            return self._service.rootfs_graph_driver(container_id, self._merged_dir(container_id))
        except NotFound:
            return {"Name": "overlay2", "Data": None}

    # --- pull and import -------------------------------------------------------------------
    def pull(
        self, *, from_image: str, tag: str, platform: str | None, registry_auth: str | None
    ) -> AsyncIterator[Progress]:
        """Pull an image: ``tag`` "" pulls all tags, ``tag`` "sha256:..." pulls by digest.

        Raises (when called, before any event):
            InvalidArgument: a bad reference, platform or auth header.
        Raises (from the iterator):
            NotFound: no such image in the registry. SystemFailure: any other refusal or failure
                of the registry (credentials, 429, 5xx, unreachable: dockerd answers 500).
        """
        ref, all_tags = parse_pull_reference(from_image, tag)
        wanted = parse_platform(platform)
        auth = AuthConfig.from_header(registry_auth) if registry_auth else None
        if all_tags:
            stream = self._service.pull_all_tags(ref, platform=wanted, auth=auth)
        else:
            stream = self._service.pull(ref, platform=wanted, auth=auth)
        return self._after(stream, lambda: self._pulled(ref, all_tags))

    def _pulled(self, ref: Reference, all_tags: bool) -> None:
        shown = ref.familiar_name() if all_tags else ref.with_default_tag().familiar_string()
        self._image_event("pull", shown, name=ref.familiar_name())

    def push(self, name: str, *, tag: str, registry_auth: str | None) -> AsyncIterator[Progress]:
        """``POST /images/{name}/push``: push ``name:tag`` (``tag`` "": every tag of the
        repository, as the API's empty ``tag`` means) to the registry the name points at.

        Raises (when called, before any event):
            NoSuchImage: no such image or tag here.
            InvalidArgument: a bad reference, a digest reference, or a bad auth header.
        Raises (from the iterator):
            NotFound, SystemFailure, InvalidArgument: the registry's refusals (``registry.errors``).
        """
        ref = Reference.parse(name)
        if tag:
            ref = ref.with_tag(tag)
        auth = AuthConfig.from_header(registry_auth) if registry_auth else None
        stream = self._service.push(ref, auth=auth)
        # moby's pusher logs the event with the reference as the actor and its name attribute.
        return self._after(
            stream, lambda: self._image_event("push", ref.familiar_string(), name=ref.familiar_name())
        )

    async def _after(
        self, stream: AsyncIterator[Progress], done: Callable[[], None]
    ) -> AsyncIterator[Progress]:
        async for item in stream:
            yield item
        done()

    def import_image(
        self,
        chunks: AsyncIterator[bytes],
        *,
        repo: str,
        tag: str,
        message: str,
        changes: builtins.list[str],
        platform: str | None,
    ) -> AsyncIterator[Progress]:
        """Import a root filesystem tarball as a one-layer image (``docker import``).

        Raises:
            InvalidArgument: a bad repository, tag, platform or ``--change``; a malformed tar.
        """
        ref = Reference.parse(repo) if repo else None
        if ref is not None:
            ref = ref.with_tag(tag) if tag else ref.with_default_tag()
        wanted = parse_platform(platform)
        return self._import(chunks, ref=ref, message=message, changes=changes, platform=wanted)

    async def _import(
        self,
        chunks: AsyncIterator[bytes],
        *,
        ref: Reference | None,
        message: str,
        changes: builtins.list[str],
        platform: Platform | None,
    ) -> AsyncIterator[Progress]:
        image = await self._service.import_image(
            chunks, ref=ref, message=message, changes=changes, platform=platform
        )
        self._image_event("import", image.id, name=ref.familiar_string() if ref else "")
        yield Progress(status=image.id)

    # --- queries ---------------------------------------------------------------------------
    def list(
        self,
        *,
        all: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
        digests: bool = False,
        shared_size: bool = False,
    ) -> builtins.list[ImageSummary]:
        """The images, newest first.

        Raises:
            InvalidArgument: a bad filter. NoSuchImage: a before/since image is unknown.
        """
        return [
            _summary(image, shared_size=shared_size) for image in self._service.list(all=all, filters=filters)
        ]

    def inspect(self, name: str) -> ImageDetails:
        """One image by reference, ID or ID prefix. Raises NoSuchImage."""
        image = self._service.get(name)
        config = self._service.config(image)
        raw = dict(config.raw)
        container_config = raw.get("config")
        return ImageDetails(
            id=image.id,
            repo_tags=image.repo_tags,
            repo_digests=image.repo_digests,
            parent=image.parent,
            comment=str(raw.get("comment", "") or ""),
            created=config.created or "",
            docker_version=str(raw.get("docker_version", "") or ""),
            author=config.author,
            config=dict(container_config) if isinstance(container_config, dict) else {},
            architecture=config.architecture,
            variant=config.variant or "",
            os=config.os,
            os_version=config.os_version or "",
            size=image.size,
            graph_driver=self._service.graph_driver(image),
            root_fs={"Type": "layers", "Layers": [str(d) for d in config.diff_ids]},
            last_tag_time=format_time(image.last_tag_time) if image.last_tag_time else "",
        )

    def history(self, name: str) -> builtins.list[HistoryEntry]:
        """The image's build history, newest first. Raises NoSuchImage."""
        image = self._service.get(name)
        return [
            HistoryEntry(
                id=row.id,
                created=row.created,
                created_by=row.created_by,
                tags=row.tags,
                size=row.size,
                comment=row.comment,
            )
            for row in self._service.history(image)
        ]

    # --- names -----------------------------------------------------------------------------
    def tag(self, name: str, *, repo: str, tag: str) -> None:
        """Add the reference ``repo:tag`` to an image.

        Raises:
            NoSuchImage: nothing is called ``name``. InvalidArgument: a bad reference.
        """
        image = self._service.get(name)
        ref = Reference.parse(repo)
        if tag:
            ref = ref.with_tag(tag)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        ref = ref.with_default_tag()
        self._service.tag(image, ref)
        self._image_event("tag", image.id, name=ref.familiar_string())

    async def remove_image(
        self, name: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[tuple[str, str]]:
        """``DELETE /images/{name}``: untag and/or delete; returns [("Untagged"|"Deleted", value)].

        The deletion runs in a worker thread: removing a big image's layers (rmtree) takes as
        long as the disk needs, and the event loop keeps serving other requests meanwhile.

        Raises:
            NoSuchImage: nothing is called ``name``. ImageInUse: Docker's conflict messages.
        """
        image_id = self._service.get(name).id
        records = await asyncio.to_thread(self._delete, name, force, noprune)
        self._record_events(records, image_id)
        return records

    def _delete(self, name: str, force: bool, noprune: bool) -> builtins.list[tuple[str, str]]:
        # May run in a worker thread: ``used_by`` reads the container store's immutable records
        # (one list copy), and the state database is shared with threads by design.
        return self._service.delete(name, force=force, prune=not noprune, used_by=self._used_by)

    def _record_events(self, records: builtins.list[tuple[str, str]], image_id: str | None) -> None:
        # moby image_delete.go: both events name the image by its ID (an untag's actor is the
        # image it was taken from, not the reference).
        for kind, value in records:
            if kind == "Untagged":
                actor = image_id or value
                self._image_event("untag", actor, name=actor)
            elif kind == "Deleted":
                self._image_event("delete", value, name=value)

    # --- transfer and pruning ----------------------------------------------------------------
    def save(self, names: builtins.list[str]) -> AsyncIterator[bytes]:
        """A docker-save tar stream of the named images.

        Raises:
            NoSuchImage: a name matches nothing (raised here, before any byte).
        """
        stream = self._service.save(names)
        for name in names:
            self._image_event("save", self._service.get(name).id, name=name)
        return stream

    def load(self, chunks: AsyncIterator[bytes], *, quiet: bool = False) -> AsyncIterator[Progress]:
        """Load a docker-save (or OCI layout) tar stream; ends with "Loaded image: ..." events."""
        return self._loaded(self._service.load(chunks))

    async def _loaded(self, stream: AsyncIterator[Progress]) -> AsyncIterator[Progress]:
        async for item in stream:
            if item.status.startswith(("Loaded image: ", "Loaded image ID: ")):
                name = item.status.split(": ", 1)[1]
                self._image_event("load", name, name=name)
            yield item

    async def prune_images(
        self, *, filters: dict[str, builtins.list[str]] | None = None
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        """``POST /images/prune``: remove dangling images (with ``dangling=false``: every unused
        one); returns (records, bytes reclaimed). The deletions run in a worker thread.

        Raises:
            InvalidArgument: an unknown filter or a bad ``dangling`` value.
        """
        dangling_only, filters = _prune_filters(filters)
        done = await asyncio.to_thread(self._prune, dangling_only, filters)
        return self._pruned(*done)

    def _prune(
        self, dangling_only: bool, filters: dict[str, builtins.list[str]]
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        return self._service.prune(dangling_only=dangling_only, filters=filters, used_by=self._used_by)

    def _pruned(
        self, records: builtins.list[tuple[str, str]], reclaimed: int
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        self._record_events(records, None)
        self._events.publish(
            Event(type="image", action="prune", actor_id="", attributes={"reclaimed": str(reclaimed)})
        )
        return records, reclaimed

    def count(self) -> int:
        """How many images there are (``/info``)."""
        return len(self._service.store.all())

    def _image_event(self, action: str, actor: str, **attributes: str) -> None:
        self._events.publish(Event(type="image", action=action, actor_id=actor, attributes=attributes))


def _prune_filters(
    filters: dict[str, builtins.list[str]] | None,
) -> tuple[bool, dict[str, builtins.list[str]]]:
    """(dangling only?, the remaining filters) of an image prune.

    Raises:
        InvalidArgument: an unknown filter or a bad ``dangling`` value, in Docker's words.
    """
    filters = dict(filters or {})
    for key in filters:
        if key not in ("dangling", "until", "label", "label!"):
            raise InvalidArgument(f"invalid filter '{key}'")
    dangling = filters.pop("dangling", ["true"])
    if any(v.lower() not in ("true", "false", "1", "0") for v in dangling):
        raise InvalidArgument(f"invalid filter 'dangling={dangling[0]}'")
    return any(v.lower() in ("true", "1") for v in dangling), filters


def _summary(image: Image, *, shared_size: bool) -> ImageSummary:
    return ImageSummary(
        id=image.id,
        parent_id=image.parent,
        repo_tags=image.repo_tags,
        repo_digests=image.repo_digests,
        created=int(image.created_at),
        size=image.size,
        shared_size=0 if shared_size else -1,
        labels=dict(image.labels),
    )


def _defaults(config: ImageConfig) -> ImageDefaults:
    c = config.config
    health = c.healthcheck or {}
    test = health.get("Test") if isinstance(health, dict) else None
    return ImageDefaults(
        env=tuple(c.env),
        cmd=tuple(c.cmd) if c.cmd is not None else None,
        entrypoint=tuple(c.entrypoint) if c.entrypoint is not None else None,
        working_dir=c.working_dir,
        user=c.user,
        labels=dict(c.labels),
        exposed_ports=tuple(c.exposed_ports),
        volumes=tuple(c.volumes),
        stop_signal=c.stop_signal or "",
        shell=tuple(c.shell or ()),
        on_build=tuple(c.on_build),
        args_escaped=c.args_escaped,
        healthcheck_test=tuple(str(t) for t in test) if isinstance(test, list) else (),
        os=config.os,
        architecture=config.architecture,
        variant=config.variant or "",
    )
