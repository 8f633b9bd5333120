"""``docker push``: an image's layers, config and manifest, uploaded to a registry.

As dockerd's v2 pusher: ``The push refers to repository [127.0.0.1:5000/app]``, then per layer
(named by its diff ID, top layer first) ``Preparing``, ``Waiting`` (beyond 5 at once, dockerd's
default), ``Pushing`` with a progress bar, and ``Pushed``, ``Layer already exists`` or
``Mounted from <repo>``; the config follows, then the manifest, and finally ``<tag>: digest:
sha256:… size: N``. The manifest pushed is the one the image was pulled as when its layers are
still those blobs (so a pulled image keeps its digest elsewhere); otherwise a Docker schema 2
manifest is written (an OCI one when a layer is zstd). Layers stored uncompressed (loaded or
imported) are gzip-compressed into the content store first, as registries expect.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.image.compression import Compression, detect
from dockyard.image.content import BlobNotFound, ContentStore
from dockyard.image.progress import Progress, ProgressChannel, Throttle, run_with_progress
from dockyard.image.snapshots import Snapshot, Snapshotter
from dockyard.image.store import Image, ImageStore
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    parse_manifest_or_index,
)
from dockyard.registry import Reference

if TYPE_CHECKING:
    from dockyard.registry.auth import AuthConfig

__all__ = ["Pusher", "RegistryWriter"]

_CONCURRENCY = 5
_CHUNK = 1 << 20


@runtime_checkable
class RegistryWriter(Protocol):
    """What a push needs from ``registry.RegistryClient``."""

    async def push_blob(
        self,
        ref: Reference,
        desc: Descriptor,
        chunks: AsyncIterator[bytes],
        *,
        auth: AuthConfig | None = None,
        mount_from: Reference | None = None,
    ) -> None: ...

    async def push_manifest(
        self, ref: Reference, data: bytes, media_type: str, *, auth: AuthConfig | None = None
    ) -> Digest: ...


@dataclass(frozen=True, slots=True)
class _Blob:
    layer: Snapshot
    desc: Descriptor

    @property
    def short(self) -> str:
        return (self.layer.diff_id or "sha256:").partition(":")[2][:12]


class Pusher:
    """Pushes images from this store (see the module essay)."""

    def __init__(
        self, *, content: ContentStore, snapshots: Snapshotter, store: ImageStore, registry: RegistryWriter
    ) -> None:
        self._content = content
        self._snapshots = snapshots
        self._store = store
        self._registry = registry

    def push(self, ref: Reference, *, auth: AuthConfig | None = None) -> AsyncIterator[Progress]:
        """Push ``ref``: with a tag, that tag; without, every tag of its repository.

        Raises (when called): NoSuchImage, InvalidArgument (a digest reference).
        Raises (from the iterator): the registry's refusals, in Docker's words.
        """
        if ref.digest is not None:
            raise InvalidArgument("cannot push a digest reference")
        tags = [ref.tag] if ref.tag else self._store.repository_tags(ref)
        targets = [(ref.with_tag(tag), self._store.resolve(str(ref.with_tag(tag)))) for tag in tags]
        if not targets:
            self._store.resolve(str(ref))  # raises Docker's "No such image"

        async def work(channel: ProgressChannel) -> None:
            channel.emit(Progress(status=f"The push refers to repository [{ref.name()}]"))
            for target, image in targets:
                await self._push_one(channel, target, image, auth)

        return run_with_progress(work)

    async def _push_one(
        self, channel: ProgressChannel, ref: Reference, image: Image, auth: AuthConfig | None
    ) -> None:
        blobs = [await asyncio.to_thread(self._describe, layer) for layer in self._layers(image)]
        for position, blob in enumerate(reversed(blobs)):
            channel.emit(Progress(status="Preparing", id=blob.short))
            if position >= _CONCURRENCY:
                channel.emit(Progress(status="Waiting", id=blob.short))
        slots = asyncio.Semaphore(_CONCURRENCY)
        source = self._mount_source(image, ref)
        await asyncio.gather(
            *(self._push_layer(channel, ref, blob, auth, slots, source) for blob in reversed(blobs))
        )
        config = self._content.read(image.config_digest, limit=MAX_CONFIG_SIZE)
        config_desc = Descriptor(media_type=OCI_CONFIG, digest=image.config_digest, size=len(config))
        await self._registry.push_blob(ref, config_desc, _chunks_of(config), auth=auth)
        data, media_type = self._manifest(image, blobs, len(config))
        digest = await self._registry.push_manifest(ref, data, media_type, auth=auth)
        self._store.add_digest(image.id, ref.repository().with_digest(digest))
        channel.emit(Progress(status=f"{ref.tag}: digest: {digest} size: {len(data)}"))

    def _layers(self, image: Image) -> list[Snapshot]:
        return list(reversed(self._snapshots.chain(image.top_layer))) if image.top_layer else []

    def _describe(self, layer: Snapshot) -> _Blob:
        """The blob to push for a layer, compressing a plain tar first. Blocking."""
        if not layer.blob or not self._content.exists(Digest.parse(layer.blob)):
            raise SystemFailure(f"layer {layer.key}: its blob is missing; the image cannot be pushed")
        digest = Digest.parse(layer.blob)
        with self._content.open(digest) as f:
            kind = detect(f.read(6))
        if kind not in (Compression.GZIP, Compression.ZSTD):
            digest = self._gzip(digest)
            kind = Compression.GZIP
        media_type = OCI_LAYER_ZSTD if kind == Compression.ZSTD else DOCKER_LAYER
        return _Blob(layer, Descriptor(media_type=media_type, digest=digest, size=self._content.size(digest)))

    def _gzip(self, digest: Digest) -> Digest:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        with self._content.open(digest) as source, self._content.ingest(None, None, limit=1 << 40) as ingest:
            while chunk := source.read(_CHUNK):
                ingest.write(compressor.compress(chunk))
            ingest.write(compressor.flush())
            return ingest.commit()

    def _mount_source(self, image: Image, ref: Reference) -> Reference | None:
        """Another repository of the same registry the image came from (for blob mounts)."""
        for other in self._store.references(image.id):
            if other.domain == ref.domain and other.path != ref.path:
                return other.repository()
        return None

    async def _push_layer(
        self,
        channel: ProgressChannel,
        ref: Reference,
        blob: _Blob,
        auth: AuthConfig | None,
        slots: asyncio.Semaphore,
        source: Reference | None,
    ) -> None:
        async with slots:
            sent = [0]
            await self._registry.push_blob(
                ref, blob.desc, self._read(channel, blob, sent), auth=auth, mount_from=source
            )
        if sent[0]:
            channel.emit(Progress(status="Pushed", id=blob.short))
        elif source is not None:
            channel.emit(Progress(status=f"Mounted from {source.path}", id=blob.short))
        else:
            channel.emit(Progress(status="Layer already exists", id=blob.short))

    async def _read(self, channel: ProgressChannel, blob: _Blob, sent: list[int]) -> AsyncIterator[bytes]:
        throttle = Throttle(blob.desc.size)
        handle = await asyncio.to_thread(self._content.open, blob.desc.digest)
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                sent[0] += len(chunk)
                if throttle.due(sent[0]):
                    channel.emit(
                        Progress(status="Pushing", id=blob.short, current=sent[0], total=blob.desc.size)
                    )
                yield chunk
        finally:
            handle.close()

    def _manifest(self, image: Image, blobs: list[_Blob], config_size: int) -> tuple[bytes, str]:
        original = self._original_manifest(image, blobs)
        if original is not None:
            return original
        oci = any(b.desc.media_type == OCI_LAYER_ZSTD for b in blobs)
        layer_type = OCI_LAYER_GZIP if oci else DOCKER_LAYER
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "size": config_size,
                "digest": image.id,
            },
            "layers": [
                {
                    "mediaType": b.desc.media_type if b.desc.media_type == OCI_LAYER_ZSTD else layer_type,
                    "size": b.desc.size,
                    "digest": str(b.desc.digest),
                }
                for b in blobs
            ],
        }
        return json.dumps(doc, indent=3).encode(), str(doc["mediaType"])  # Docker's own indentation

    def _original_manifest(self, image: Image, blobs: list[_Blob]) -> tuple[bytes, str] | None:
        if not image.manifest_digest:
            return None
        try:
            data = self._content.read(Digest.parse(image.manifest_digest), limit=MAX_MANIFEST_SIZE)
            manifest = parse_manifest_or_index(data, None)
        except (BlobNotFound, InvalidArgument, SystemFailure):  # gone or unreadable: write a fresh one
            return None
        if not isinstance(manifest, Manifest) or [d.digest for d in manifest.layers] != [
            b.desc.digest for b in blobs
        ]:
            return None
        return data, manifest.media_type


async def _chunks_of(data: bytes) -> AsyncIterator[bytes]:
    yield data
