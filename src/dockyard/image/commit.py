"""``docker commit`` (and each step of a build): a container's changes become a new image.

As dockerd's ``CommitImage``: the container's writable layer is turned into a layer tar
(``diff.layer_tar_chunks``, overlay whiteouts translated back), stored gzip-compressed in the
content store (so it can be saved or pushed as it is) and unpacked into a new layer snapshot on
top of the parent image's layers. The new config is the parent's with the container's config,
one more ``history`` entry and one more diff ID. A container without changes gives an image
without a new layer, its history entry marked ``empty_layer`` (that is how the builder's ENV
and CMD steps stay free). The parent image is recorded, so ``rmi`` of it reports a dependent
child, as in Docker.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import NotFound
from dockyard.image.archive import ApplyOptions
from dockyard.image.changes import apply_changes
from dockyard.image.content import ContentStore
from dockyard.image.diff import layer_tar_chunks
from dockyard.image.importer import go_time
from dockyard.image.snapshots import Snapshot, Snapshotter, chain_ids
from dockyard.image.store import Image, ImageRecord, ImageStore
from dockyard.image.unpack import unpack_layer
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import MAX_CONFIG_SIZE, OCI_LAYER_GZIP, Platform, parse_image_config
from dockyard.registry import Reference
from dockyard.util import jsoncodec

__all__ = ["EMPTY_LAYER_DIFF_ID", "CommitRequest", "commit_container"]

EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
"""The diff ID of a tar with no entries (1024 zero bytes): Docker's "empty layer"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRequest:
    """What to commit. ``config`` is the new image's ``config`` object (Docker's JSON form);
    ``container_config`` the container's, recorded as ``container_config``; ``created_by`` the
    history line (``docker commit`` uses the container's command, the builder its step)."""

    container_id: str
    parent: Image | None
    config: dict[str, object]
    container_config: dict[str, object] | None = None
    created_by: str = ""
    comment: str = ""
    author: str = ""
    changes: tuple[str, ...] = ()
    ref: Reference | None = None


async def commit_container(
    request: CommitRequest,
    *,
    content: ContentStore,
    snapshots: Snapshotter,
    store: ImageStore,
    options: ApplyOptions,
) -> Image:
    """Make the image (see the module essay); returns it.

    Raises:
        NotFound: the container has no writable layer here.
        InvalidArgument: an invalid ``--change``.
    """
    upper = snapshots.container_upper(request.container_id)
    if upper is None:
        raise NotFound(f"no root filesystem for container {request.container_id}")
    config_object = apply_changes(request.config, list(request.changes))
    parent_top = request.parent.top_layer if request.parent else None
    diff_id, blob = await asyncio.to_thread(_write_blob, content, upper)
    layer: Snapshot | None = None
    if diff_id != EMPTY_LAYER_DIFF_ID:
        layer = await asyncio.to_thread(_unpack, snapshots, content, options, blob, diff_id, parent_top)
    base = _parent_config(content, request.parent)
    created = go_time()
    document = _config_document(request, base, config_object, created, diff_id if layer else None)
    image_id = str(await asyncio.to_thread(content.add, jsoncodec.dumps(document).encode()))
    size = (request.parent.size if request.parent else 0) + (layer.size if layer else 0)
    platform = Platform.host()
    store.add(
        ImageRecord(
            id=image_id,
            manifest_digest=None,
            created=created,
            size=size,
            os=str(document.get("os") or platform.os),
            architecture=str(document.get("architecture") or platform.architecture),
            variant=str(document.get("variant") or ""),
            parent=request.parent.id if request.parent else "",
            top_layer=layer.key if layer else parent_top,
            labels=dict(config_object.get("Labels") or {}),  # type: ignore[call-overload]
        )
    )
    if request.ref is not None:
        store.tag(image_id, request.ref.with_default_tag())
    return store.get(image_id)


def _write_blob(content: ContentStore, upper: Path) -> tuple[str, Digest]:
    """Tar the writable layer, hashing the tar and storing it gzip-compressed."""
    hasher = hashlib.sha256()
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with content.ingest(None, None, limit=1 << 40) as ingest:
        for chunk in layer_tar_chunks(upper, overlay_upper=True):
            hasher.update(chunk)
            packed = compressor.compress(chunk)
            if packed:
                ingest.write(packed)
        ingest.write(compressor.flush())
        blob = ingest.commit()
    return "sha256:" + hasher.hexdigest(), blob


def _unpack(
    snapshots: Snapshotter,
    content: ContentStore,
    options: ApplyOptions,
    blob: Digest,
    diff_id: str,
    parent: str | None,
) -> Snapshot:
    below = [s.diff_id or "" for s in reversed(snapshots.chain(parent))] if parent else []
    chain = chain_ids([*below, diff_id])[-1]

    def mismatch(actual: Digest) -> Exception:
        return NotFound(f"commit: the layer unpacked as {actual}, written as {diff_id}")

    existing = snapshots.get(chain)
    if existing is not None and existing.kind == "layer":
        return existing
    with content.open(blob) as source:
        return unpack_layer(
            snapshots,
            source,
            chain_id=chain,
            parent=parent,
            expected=Digest.parse(diff_id),
            blob=str(blob),
            media_type=OCI_LAYER_GZIP,
            options=options,
            mismatch=mismatch,
        )


def _parent_config(content: ContentStore, parent: Image | None) -> dict[str, object]:
    if parent is None:
        return {}
    raw = parse_image_config(content.read(parent.config_digest, limit=MAX_CONFIG_SIZE)).raw
    return dict(raw)


def _config_document(
    request: CommitRequest,
    base: dict[str, object],
    config_object: dict[str, object],
    created: str,
    diff_id: str | None,
) -> dict[str, object]:
    platform = Platform.host()
    rootfs = base.get("rootfs")
    diff_ids = list(rootfs.get("diff_ids") or []) if isinstance(rootfs, dict) else []
    if diff_id is not None:
        diff_ids.append(diff_id)
    history = list(base.get("history") or [])  # type: ignore[call-overload]
    entry: dict[str, object] = {"created": created, "created_by": request.created_by}
    if request.author:
        entry["author"] = request.author
    if request.comment:
        entry["comment"] = request.comment
    if diff_id is None:
        entry["empty_layer"] = True
    history.append(entry)
    document: dict[str, object] = {
        "architecture": base.get("architecture") or platform.architecture,
        "config": config_object,
        "container": request.container_id,
        "created": created,
        "history": history,
        "os": base.get("os") or platform.os,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if request.container_config is not None:
        document["container_config"] = request.container_config
    for key, value in (
        ("author", request.author),
        ("comment", request.comment),
        ("variant", base.get("variant")),
    ):
        if value:
            document[key] = value
    return document
