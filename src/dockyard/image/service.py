"""ImageService: the image room's one entry point for the engine.

It composes the room's parts over one data root: the content store (blobs), the image store
(records, tags), the snapshotter (unpacked layers, containers' init and writable layers) and the
registry client, and adds Docker's rules on top (lookup, listing filters, ``rmi``, history).
Creating the service recovers from any interrupted work first: unfinished layer unpacks and
orphan snapshot directories are removed, so nothing half-written is ever trusted.

Blocking calls (``delete``, ``create_rootfs``, ``remove_rootfs``, ``rootfs_usage``, ``gc``,
``fsck``) touch the disk and may take a while on big layers: the daemon runs them in worker
threads. Streaming calls (``pull``, ``load``, ``save``, ``import_image``) do their blocking work
in threads themselves.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.config import Paths
from dockyard.errors import NotFound, Unsupported
from dockyard.image import gc
from dockyard.image.archive import ApplyOptions
from dockyard.image.commit import CommitRequest, commit_container
from dockyard.image.content import ContentStore
from dockyard.image.diff import layer_tar_chunks
from dockyard.image.filters import filter_images
from dockyard.image.importer import import_rootfs
from dockyard.image.load import ArchiveLoader
from dockyard.image.mount import Mount, mount_all, unmount
from dockyard.image.progress import Progress, ProgressChannel, run_with_progress
from dockyard.image.pull import Puller, Registry
from dockyard.image.push import Pusher, RegistryWriter
from dockyard.image.removal import ImageDeleter
from dockyard.image.snapshots import Snapshotter
from dockyard.image.store import Image, ImageStore, parse_created
from dockyard.image.streams import ChunkPipe, feed_pipe
from dockyard.image.transfer import save_archive
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import MAX_CONFIG_SIZE, ImageConfig, Platform, parse_image_config
from dockyard.registry import Reference
from dockyard.util.db import Database
from dockyard.util.locks import KeyedLocks

if TYPE_CHECKING:
    from dockyard.registry.auth import AuthConfig

__all__ = ["HistoryEntry", "ImageService", "UsedBy"]

log = logging.getLogger(__name__)

UsedBy = Callable[[str], builtins.list[tuple[str, bool]]]
"""``used_by(image_id) -> [(container_id, running), ...]``, answered by the engine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One row of ``docker history`` (``GET /images/{name}/history``), newest first.

    ``id`` is the image ID for the rows an image of this store was made by, ``<missing>`` for
    the rest (layers pulled from elsewhere); ``created`` is seconds since the epoch; ``size`` is
    the layer's size (0 for steps that made no layer).
    """

    id: str
    created: int
    created_by: str
    tags: tuple[str, ...]
    size: int
    comment: str


def _label_matches(item: str, labels: dict[str, str]) -> bool:
    key, sep, value = item.partition("=")
    return key in labels and (not sep or labels[key] == value)


class ImageService:
    """Images, layers and container root filesystems on one data root."""

    def __init__(
        self,
        *,
        paths: Paths,
        db: Database,
        registry: Registry | None = None,
        apply_options: ApplyOptions | None = None,
        sync: bool = False,
    ) -> None:
        """Open (creating if needed) the image room's state under ``paths.data_root``.

        ``registry`` is needed only to pull (and, if it can write, to push). ``sync`` flushes
        each unpacked layer (``syncfs``) before its record is committed. It is off by default, as
        in moby's overlay2 and containerd's overlay snapshotter: measured here it costs a pull
        about a third of its time, because the ordered commits wait on it. Blobs are always
        fsynced, so a layer damaged by a power loss can be removed and unpacked again.

        Raises:
            CorruptRecord: the state database is from a newer dockyard.
        """
        self._paths = paths
        self._db = db
        self.content = ContentStore(paths)
        self.store = ImageStore(db)
        self.snapshots = Snapshotter(paths.snapshots_root, db, sync=sync)
        self._apply = apply_options or ApplyOptions()
        self._registry = registry
        self._locks = KeyedLocks()  # shared by all pulls: one download per blob, one unpack per layer
        for line in self.snapshots.recover():
            log.info("image store recovery: %s", line)

    # --- pulling ---------------------------------------------------------------------------
    def _puller(self) -> Puller:
        if self._registry is None:
            raise NotFound("no registry client configured")
        return Puller(
            content=self.content,
            snapshots=self.snapshots,
            store=self.store,
            registry=self._registry,
            apply_options=self._apply,
            locks=self._locks,
        )

    def pull(
        self, ref: Reference, *, platform: Platform | None = None, auth: AuthConfig | None = None
    ) -> AsyncIterator[Progress]:
        """Pull ``ref`` (a bare name means ``:latest``), yielding Docker's progress events.

        Raises (from the iterator): the registry's errors (NotFound, or SystemFailure for any
        other refusal) in Docker's words; InvalidArgument for bad content (digests, diff IDs,
        documents).
        """
        return self._puller().pull(ref, platform=platform, auth=auth)

    def pull_all_tags(
        self, ref: Reference, *, platform: Platform | None = None, auth: AuthConfig | None = None
    ) -> AsyncIterator[Progress]:
        """Pull every tag of ``ref``'s repository (``docker pull --all-tags``)."""
        return self._puller().pull_all_tags(ref, platform=platform, auth=auth)

    def push(self, ref: Reference, *, auth: AuthConfig | None = None) -> AsyncIterator[Progress]:
        """``docker push``: ``ref``'s tag (or, without a tag, every tag of its repository).

        Raises (when called): NoSuchImage, InvalidArgument (a digest reference).
        Raises (from the iterator): the registry's refusals, in Docker's words.
        """
        if not isinstance(self._registry, RegistryWriter):
            raise Unsupported("this daemon's registry client cannot push")
        pusher = Pusher(
            content=self.content, snapshots=self.snapshots, store=self.store, registry=self._registry
        )
        return pusher.push(ref, auth=auth)

    # --- queries ---------------------------------------------------------------------------
    def list(
        self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Image]:
        """``GET /images/json``: images newest first, with ``reference`` narrowing the names shown.

        Raises:
            InvalidArgument: an unknown filter or a bad filter value.
            NoSuchImage: a ``before``/``since`` image does not exist.
        """
        images = self.store.all()
        parents = {i.parent for i in images if i.parent}
        return filter_images(
            images,
            all=all,
            filters=filters,
            resolve=self.get,
            has_children=lambda image_id: image_id in parents,
        )

    def get(self, name_or_id: str) -> Image:
        """The image ``name_or_id`` means: a reference, a full or short ID, or an ID prefix.

        Raises:
            NoSuchImage: nothing matches (Docker's "No such image: alpine:latest").
            InvalidArgument: not a valid reference.
        """
        return self.store.resolve(name_or_id)

    def config(self, image: Image) -> ImageConfig:
        """The image's parsed config (``raw`` holds the document as stored, for ``inspect``).

        Raises:
            NotFound: the config blob is gone (a damaged store).
        """
        return parse_image_config(self.content.read(image.config_digest, limit=MAX_CONFIG_SIZE))

    def history(self, image: Image) -> builtins.list[HistoryEntry]:
        """``docker history``: one row per config history entry, newest first (dockerd's rules:
        the newest rows carry the IDs of this image and its local parents)."""
        config = self.config(image)
        sizes = self._layer_sizes(image)
        rows: builtins.list[HistoryEntry] = []
        layer = 0
        for entry in config.history:
            size = 0
            if not entry.empty_layer:
                size = sizes[layer] if layer < len(sizes) else 0
                layer += 1
            rows.insert(
                0,
                HistoryEntry(
                    id="<missing>",
                    created=int(parse_created(entry.created)),
                    created_by=entry.created_by,
                    tags=(),
                    size=size,
                    comment=entry.comment,
                ),
            )
        return self._name_history(rows, image)

    def _name_history(self, rows: builtins.list[HistoryEntry], image: Image) -> builtins.list[HistoryEntry]:
        current: Image | None = image
        named: builtins.list[HistoryEntry] = []
        for row in rows:
            if current is None:
                named.append(row)
                continue
            named.append(
                HistoryEntry(
                    id=current.id,
                    created=row.created,
                    created_by=row.created_by,
                    tags=current.repo_tags,
                    size=row.size,
                    comment=row.comment,
                )
            )
            current = (
                self.store.get(current.parent)
                if current.parent and self.store.exists(current.parent)
                else None
            )
        return named

    def _layer_sizes(self, image: Image) -> builtins.list[int]:
        if not image.top_layer:
            return []
        return [s.size for s in reversed(self.snapshots.chain(image.top_layer))]

    def layers(self, image: Image) -> builtins.list[str]:
        """The image's diff IDs, bottom first (``RootFS.Layers`` of inspect)."""
        return [str(d) for d in self.config(image).diff_ids]

    def graph_driver(self, image: Image) -> dict[str, object]:
        """Inspect's ``GraphDriver`` for an image, in overlay2's terms."""
        if not image.top_layer:
            return {"Name": "overlay2", "Data": None}
        chain = self.snapshots.chain(image.top_layer)
        top = self.snapshots.directory(chain[0])
        data: dict[str, str] = {
            "MergedDir": str(top / "merged"),
            "UpperDir": str(self.snapshots.fs(chain[0])),
            "WorkDir": str(top / "work"),
        }
        if len(chain) > 1:
            data["LowerDir"] = ":".join(str(self.snapshots.fs(s)) for s in chain[1:])
        return {"Name": "overlay2", "Data": data}

    # --- names -----------------------------------------------------------------------------
    def tag(self, image: Image, ref: Reference) -> None:
        """Point ``ref`` (``latest`` if it has no tag) at ``image``; the tag moves if it existed.

        Raises:
            InvalidArgument: ``ref`` carries a digest.
        """
        self.store.tag(image.id, ref.with_default_tag())

    def delete(
        self, name_or_id: str, *, force: bool, prune: bool, used_by: UsedBy
    ) -> builtins.list[tuple[str, str]]:
        """``docker rmi``: Docker's untag/delete rules; returns ``[("Untagged"|"Deleted", …)]``.

        ``prune`` is the opposite of ``noprune``: delete untagged parent images too.

        Raises:
            NoSuchImage: nothing is called ``name_or_id``.
            ImageInUse: Docker's conflict messages (see ``removal.py``).
        """
        deleter = ImageDeleter(self.store, used_by, self._remove_image)
        return deleter.delete(name_or_id, force=force, prune=prune)

    def _remove_image(self, image: Image) -> builtins.list[str]:
        self.store.delete(image.id)
        removed = gc.release_image_layers(self.store, self.snapshots, self.content, image.top_layer, image.id)
        used = gc.blobs_in_use(self._db, self.snapshots)
        for digest in {image.id, image.manifest_digest}:
            if digest and digest not in used:
                self.content.delete(Digest.parse(digest))
        return removed

    def prune(
        self, *, dangling_only: bool, filters: dict[str, builtins.list[str]] | None, used_by: UsedBy
    ) -> tuple[builtins.list[tuple[str, str]], int]:
        """``docker image prune``: delete dangling images (or, without ``dangling_only``, every
        image no container uses), honouring ``until`` and ``label`` filters. Returns the records
        and the bytes reclaimed."""
        wanted = {k: v for k, v in (filters or {}).items() if k in ("until", "label")}
        records: builtins.list[tuple[str, str]] = []
        reclaimed = 0
        for image in self.list(all=True, filters=wanted or None):
            if dangling_only and (image.repo_tags or self.store.children(image.id)):
                continue
            if used_by(image.id) or not self.store.exists(image.id):
                continue
            try:
                done = self.delete(image.id, force=not dangling_only, prune=True, used_by=used_by)
            except Exception as exc:
                log.info("image prune skipped image=%s reason=%s", image.short_id, exc)
                continue
            records.extend(done)
            if any(kind == "Deleted" and value == image.id for kind, value in done):
                reclaimed += image.size
        return records, reclaimed

    # --- transfer --------------------------------------------------------------------------
    def save(self, names: builtins.list[str]) -> AsyncIterator[bytes]:
        """A ``docker save`` archive of ``names`` (see ``transfer.py`` for the format).

        Raises:
            NoSuchImage: a name matches nothing (raised here, before any byte).
        """
        return save_archive(self.store, self.content, self.snapshots, names)

    def load(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[Progress]:
        """``docker load``: store the images of an archive stream; ends with "Loaded image: …".

        Raises (from the iterator):
            InvalidArgument: a malformed archive, or layers that do not match their configs.
        """

        async def work(channel: ProgressChannel) -> None:
            pipe = ChunkPipe()
            loader = ArchiveLoader(
                content=self.content,
                snapshots=self.snapshots,
                store=self.store,
                options=self._apply,
                emit=channel.emit_threadsafe,
            )

            def run() -> None:
                try:
                    loader.load(pipe)
                    pipe.drain()
                finally:
                    pipe.abandon()

            reading = asyncio.create_task(asyncio.to_thread(run))
            try:
                await feed_pipe(chunks, pipe)
            except BaseException:
                await asyncio.gather(reading, return_exceptions=True)
                raise
            await reading

        return run_with_progress(work)

    async def import_image(
        self,
        chunks: AsyncIterator[bytes],
        *,
        ref: Reference | None,
        message: str,
        changes: builtins.list[str],
        platform: Platform | None,
    ) -> Image:
        """``docker import``: a root filesystem tar (maybe compressed) as a one-layer image.

        Raises:
            InvalidArgument: a bad ``--change`` or a malformed tar.
        """
        return await import_rootfs(
            chunks,
            content=self.content,
            snapshots=self.snapshots,
            store=self.store,
            options=self._apply,
            ref=ref,
            message=message,
            changes=changes,
            platform=platform,
        )

    async def commit(self, request: CommitRequest) -> Image:
        """``docker commit`` / a build step: the container's changes as a new image on
        ``request.parent`` (see ``commit.py``). Pause or stop the container first for a
        consistent snapshot, as Docker does.

        Raises:
            NotFound: the container has no root filesystem here.
            InvalidArgument: an invalid ``--change``.
        """
        return await commit_container(
            request, content=self.content, snapshots=self.snapshots, store=self.store, options=self._apply
        )

    async def export_rootfs(self, target: Path) -> AsyncIterator[bytes]:
        """``docker export``: a tar of the root filesystem mounted at ``target``, streamed."""
        chunks = layer_tar_chunks(target, overlay_upper=False)
        while True:
            chunk = await asyncio.to_thread(next, chunks, b"")
            if not chunk:
                return
            yield chunk

    def shared_sizes(self) -> dict[str, int]:
        """``SharedSize`` of each image: bytes of its layers that other images use too."""
        images = self.store.all()
        users: dict[str, int] = {}
        chains: dict[str, builtins.list[str]] = {}
        sizes: dict[str, int] = {}
        for image in images:
            chain = self.snapshots.chain(image.top_layer) if image.top_layer else []
            chains[image.id] = [s.key for s in chain]
            for snap in chain:
                users[snap.key] = users.get(snap.key, 0) + 1
                sizes[snap.key] = snap.size
        return {i: sum(sizes[k] for k in keys if users[k] > 1) for i, keys in chains.items()}

    # --- container root filesystems --------------------------------------------------------
    def create_rootfs(self, container_id: str, image: Image) -> None:
        """Create the container's init layer and writable layer on top of ``image``'s layers.

        Raises:
            NotFound: the image's layers are missing.
        """
        self.snapshots.create_container(container_id, image.top_layer)

    def rootfs_mounts(self, container_id: str) -> builtins.list[Mount]:
        """The mounts that make the container's root filesystem (as data).

        Raises:
            NotFound: the container has no root filesystem here.
        """
        return self.snapshots.container_mounts(container_id)

    def mount_rootfs(self, container_id: str, target: Path) -> None:
        """Mount the container's root filesystem on ``target`` (an existing directory).

        Raises:
            NotFound: no root filesystem for the container.
            SystemFailure: the kernel refused the mount.
        """
        mount_all(self.rootfs_mounts(container_id), target)

    def unmount_rootfs(self, container_id: str, target: Path) -> None:
        """Unmount what ``mount_rootfs`` mounted (not mounted is fine).

        Raises:
            SystemFailure: the mount is busy.
        """
        del container_id
        unmount(target)

    def remove_rootfs(self, container_id: str) -> None:
        """Delete the container's init and writable layers (``docker rm``); unmount first."""
        self.snapshots.remove_container(container_id)

    def rootfs_usage(self, container_id: str) -> tuple[int, int]:
        """``(SizeRw, SizeRootFs)`` as ``docker ps -s`` shows them: the writable layer's bytes,
        and those plus the image's."""
        rw = self.snapshots.get(f"rw:{container_id}")
        if rw is None:
            return 0, 0
        size_rw = self.snapshots.usage(rw)
        below = self.snapshots.chain(rw.parent) if rw.parent else []
        return size_rw, size_rw + sum(s.size for s in below if s.kind == "layer")

    def rootfs_graph_driver(self, container_id: str, merged: Path) -> dict[str, object]:
        """Inspect's ``GraphDriver`` for a container (``merged`` is where its rootfs is mounted)."""
        mount = self.rootfs_mounts(container_id)[0]
        data = {"LowerDir": ":".join(mount.lowerdirs()), "MergedDir": str(merged)}
        for option in mount.options:
            key, _, value = option.partition("=")
            if key in ("upperdir", "workdir"):
                data["UpperDir" if key == "upperdir" else "WorkDir"] = value
        return {"Name": "overlay2", "Data": data}

    # --- maintenance -----------------------------------------------------------------------
    def gc(self, *, live_containers: set[str] | None = None, grace: float = 600.0) -> gc.GcReport:
        """Remove unreferenced blobs, layers, stale ingests and (given the live container IDs)
        orphan container layers. Blocking."""
        return gc.collect(
            self._db, self.store, self.content, self.snapshots, live_containers=live_containers, grace=grace
        )

    def fsck(self) -> builtins.list[str]:
        """Inconsistencies in the image room's disk state, one line each. Blocking and slow."""
        return gc.fsck(self.store, self.content, self.snapshots)
