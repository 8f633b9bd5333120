"""``docker import``: a root filesystem tarball becomes a one-layer image.

As dockerd's ``ImportImage``: the (possibly compressed) tar is the image's only layer; the config
gets ``--change`` instructions applied to an empty container config, the message as its
``comment`` and as the comment of its one history entry, and the host's architecture (or the
requested platform). The body is streamed: it is written to a content-store ingest (so the layer
blob can be saved and pushed later, byte for byte) while a worker thread unpacks the same bytes
from the ingest's file, exactly as a pull does, and the layer is committed only once the whole
body has arrived and been hashed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from dockyard.errors import SystemFailure
from dockyard.image.archive import ApplyOptions
from dockyard.image.changes import apply_changes
from dockyard.image.content import ContentStore, Ingest, IngestReader
from dockyard.image.snapshots import Snapshot, Snapshotter
from dockyard.image.store import Image, ImageRecord, ImageStore
from dockyard.image.unpack import unpack_layer
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Platform
from dockyard.registry import Reference
from dockyard.util import jsoncodec

__all__ = ["EMPTY_CONTAINER_CONFIG", "go_time", "import_rootfs"]

EMPTY_CONTAINER_CONFIG: dict[str, object] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}
"""A zero ``container.Config`` as Go serialises it (what ``inspect`` shows for an import)."""


def go_time(ns: int | None = None) -> str:
    """A UTC time in Go's RFC 3339 with nanoseconds (``2024-01-02T03:04:05.123456789Z``)."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


async def import_rootfs(
    chunks: AsyncIterator[bytes],
    *,
    content: ContentStore,
    snapshots: Snapshotter,
    store: ImageStore,
    options: ApplyOptions,
    ref: Reference | None,
    message: str,
    changes: list[str],
    platform: Platform | None,
) -> Image:
    """Import ``chunks`` (a tar, maybe compressed) as a new image, tagged ``ref`` if given.

    Raises:
        InvalidArgument: an invalid change instruction or a malformed tar.
        SystemFailure: the disk refused the data.
    """
    container_config = apply_changes(EMPTY_CONTAINER_CONFIG, changes)
    ingest = content.ingest(None, None, limit=options.max_bytes)
    reader = ingest.reader()
    try:
        unpacking = asyncio.create_task(asyncio.to_thread(_unpack, snapshots, reader, ingest, options))
        # A tar that turns out bad stops the upload at once instead of after the whole body.
        unpacking.add_done_callback(lambda task: _fail_on_error(task, ingest))
        try:
            await _receive(chunks, ingest)
        except BaseException as exc:
            ingest.fail(exc)
            await asyncio.gather(unpacking, return_exceptions=True)
            failure = unpacking.exception() if not unpacking.cancelled() else None
            if failure is not None and exc is not failure:
                raise failure from None
            raise
        layer = await unpacking
    finally:
        reader.close()
    created = go_time()
    platform = platform or Platform.host()
    config: dict[str, object] = {
        "architecture": platform.architecture,
        "comment": message,
        "config": container_config,
        "created": created,
        "history": [{"created": created, "comment": message}] if message else [{"created": created}],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    if not message:
        del config["comment"]
    if platform.variant:
        config["variant"] = platform.variant
    data = jsoncodec.dumps(config).encode()
    digest = await asyncio.to_thread(content.add, data)
    image_id = str(digest)
    store.add(
        ImageRecord(
            id=image_id,
            manifest_digest=None,
            created=created,
            size=layer.size,
            os=platform.os,
            architecture=platform.architecture,
            variant=platform.variant or "",
            top_layer=layer.key,
            labels=dict(container_config.get("Labels") or {}),  # type: ignore[call-overload]
        )
    )
    if ref is not None:
        store.tag(image_id, ref.with_default_tag())
    return store.get(image_id)


def _fail_on_error(task: asyncio.Task[Snapshot], ingest: Ingest) -> None:
    if not task.cancelled() and task.exception() is not None:
        ingest.fail(task.exception() or SystemFailure("import failed"))


async def _receive(chunks: AsyncIterator[bytes], ingest: Ingest) -> None:
    async for chunk in chunks:
        ingest.write(chunk)
    await asyncio.to_thread(ingest.commit)


def _unpack(snapshots: Snapshotter, reader: IngestReader, ingest: Ingest, options: ApplyOptions) -> Snapshot:
    def blob() -> str:
        digest: Digest | None = ingest.committed
        if digest is None:
            raise SystemFailure("import: the layer was unpacked before its bytes were committed")
        return str(digest)

    def mismatch(actual: Digest) -> Exception:  # never called: there is no expected diff ID
        return SystemFailure(f"import: unexpected diff ID {actual}")

    return unpack_layer(
        snapshots,
        reader,
        chain_id=None,
        parent=None,
        expected=None,
        blob=blob,
        media_type=None,
        options=options,
        mismatch=mismatch,
    )
