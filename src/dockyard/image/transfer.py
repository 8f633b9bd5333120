"""``docker save``: images as a tar stream that ``docker load`` (20.10 and later) accepts.

The format is the one Docker 25+ writes: an OCI image layout that also carries Docker's
``manifest.json`` and ``repositories``, so both kinds of reader find what they look for::

    blobs/sha256/<config>            the image config, byte for byte (its digest is the image ID)
    blobs/sha256/<layer blob>        each layer as it is stored (usually gzip, as pulled)
    blobs/sha256/<manifest>          an OCI manifest per image, written for the archive
    index.json                       OCI index: one entry per tag, annotated with its name
    manifest.json                    Docker's list: Config, RepoTags, Layers (paths into blobs/)
    oci-layout                       {"imageLayoutVersion": "1.0.0"}
    repositories                     {"alpine": {"latest": "<top layer blob hex>"}} (legacy)

dockerd 20.10 reads ``manifest.json`` and decompresses each layer itself, so layers are sent as
stored (no recompression, no second copy); OCI tools read ``index.json``. Which images go in and
with which tags follows dockerd's ``parseNames``: ``alpine:3`` saves that tag, ``alpine`` every
tag of the repository, an ID the image without tags.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument, SystemFailure
from dockyard.image.content import BlobNotFound, ContentStore
from dockyard.image.snapshots import Snapshotter
from dockyard.image.store import Image, ImageStore
from dockyard.image.streams import TarWriter
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    MAX_CONFIG_SIZE,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)
from dockyard.registry import Reference
from dockyard.util import ids, jsoncodec

__all__ = ["save_archive", "select_for_save"]

_CHUNK = 1 << 20
_OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'
_MEDIA_TYPES = {DOCKER_LAYER: "application/vnd.oci.image.layer.v1.tar+gzip", DOCKER_FOREIGN_LAYER: OCI_LAYER}


@dataclass(slots=True)
class _Saved:
    image: Image
    tags: list[Reference] = field(default_factory=list)


def select_for_save(store: ImageStore, names: list[str]) -> list[_Saved]:
    """The images ``names`` mean, each with the tags to record (dockerd's ``parseNames``).

    Raises:
        NoSuchImage: a name matches nothing.
        InvalidArgument: a name is not a reference or an ID.
    """
    chosen: dict[str, _Saved] = {}

    def add(image: Image, ref: Reference | None) -> None:
        entry = chosen.setdefault(image.id, _Saved(image))
        if ref is not None and ref.digest is None and ref not in entry.tags:
            entry.tags.append(ref)

    for name in names:
        if name.startswith("sha256:") or ids.is_full_id(name) or not _looks_like_reference(name):
            add(store.resolve(name), None)
            continue
        ref = Reference.parse(name)
        if ref.tag is None and ref.digest is None:
            found = False
            for image in store.all():
                for tagged in store.references(image.id):
                    if tagged.digest is None and tagged.name() == ref.name():
                        add(image, tagged)
                        found = True
            if not found:
                add(store.resolve(name), None)
            continue
        image = store.resolve(name)
        add(image, ref.with_default_tag() if ref.digest is None else None)
    return list(chosen.values())


def _looks_like_reference(name: str) -> bool:
    try:
        Reference.parse(name)
    except InvalidArgument:
        return False
    return True


def save_archive(
    store: ImageStore, content: ContentStore, snapshots: Snapshotter, names: list[str]
) -> AsyncIterator[bytes]:
    """The archive of ``names`` as chunks. Names are resolved before the first chunk, so a
    missing image is an error the API can still answer with a status code.

    Raises:
        NoSuchImage: a name matches nothing.
        SystemFailure: a layer's blob is missing (the image cannot be exported).
    """
    selected = select_for_save(store, names)
    plans = [_plan(entry, content, snapshots) for entry in selected]
    return _stream(plans, content)


@dataclass(slots=True)
class _Plan:
    entry: _Saved
    config: bytes
    layers: list[tuple[Digest, str, int]]  # blob, media type, size
    manifest: bytes = b""


def _plan(entry: _Saved, content: ContentStore, snapshots: Snapshotter) -> _Plan:
    image = entry.image
    try:
        config = content.read(image.config_digest, limit=MAX_CONFIG_SIZE)
    except BlobNotFound as exc:
        raise SystemFailure(f"image {image.id}: config blob missing") from exc
    layers: list[tuple[Digest, str, int]] = []
    if image.top_layer:
        for snap in reversed(snapshots.chain(image.top_layer)):
            if not snap.blob or not content.exists(Digest.parse(snap.blob)):
                raise SystemFailure(f"image {image.id}: the blob of layer {snap.key} is missing")
            digest = Digest.parse(snap.blob)
            media_type = _MEDIA_TYPES.get(snap.media_type or "", snap.media_type or OCI_LAYER)
            layers.append((digest, media_type, content.size(digest)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.id, "size": len(config)},
        "layers": [{"mediaType": mt, "digest": str(d), "size": size} for d, mt, size in layers],
    }
    return _Plan(entry, config, layers, jsoncodec.dumps(manifest).encode())


async def _stream(plans: list[_Plan], content: ContentStore) -> AsyncIterator[bytes]:
    tar = TarWriter()
    yield tar.directory("blobs/") + tar.directory("blobs/sha256/")
    written: set[str] = set()
    for plan in plans:
        created = plan.entry.image.created_at
        for name, data in (
            (plan.entry.image.id, plan.config),
            (str(Digest.from_bytes(plan.manifest)), plan.manifest),
        ):
            if name not in written:
                written.add(name)
                yield tar.file(_blob_path(name), data, created)
        for digest, _, size in plan.layers:
            if str(digest) in written:
                continue
            written.add(str(digest))
            yield tar.file_header(_blob_path(str(digest)), size, created)
            async for chunk in _read_blob(content, digest, size):
                yield chunk
            yield tar.padding(size)
    for name, data in _metadata(plans):
        yield tar.file(name, data)
    yield tar.end()


async def _read_blob(content: ContentStore, digest: Digest, size: int) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(content.open, digest)
    try:
        left = size
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(_CHUNK, left))
            if not chunk:
                raise SystemFailure(f"blob {digest} is shorter than {size} bytes")
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _blob_path(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def _metadata(plans: list[_Plan]) -> list[tuple[str, bytes]]:
    index_entries: list[dict[str, object]] = []
    manifest_items: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    for plan in plans:
        manifest_digest = str(Digest.from_bytes(plan.manifest))
        for ref in plan.entry.tags:
            index_entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(plan.manifest),
                    "annotations": {
                        "io.containerd.image.name": str(ref),
                        "org.opencontainers.image.ref.name": ref.tag or "",
                    },
                }
            )
            if plan.layers:
                repositories.setdefault(ref.familiar_name(), {})[ref.tag or ""] = plan.layers[-1][0].hex
        if not plan.entry.tags:
            index_entries.append(
                {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(plan.manifest)}
            )
        manifest_items.append(
            {
                "Config": _blob_path(plan.entry.image.id),
                "RepoTags": [r.familiar_string() for r in plan.entry.tags] or None,
                "Layers": [_blob_path(str(d)) for d, _, _ in plan.layers],
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries}
    files = [
        ("index.json", jsoncodec.dumps(index).encode()),
        ("manifest.json", jsoncodec.dumps(manifest_items).encode() + b"\n"),
        ("oci-layout", _OCI_LAYOUT),
    ]
    if repositories:
        files.append(("repositories", jsoncodec.dumps(repositories).encode() + b"\n"))
    return files
