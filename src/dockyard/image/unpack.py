"""Unpacking one layer blob into a committed snapshot: the step pull, load and import share.

The order matters and is the same everywhere: a fresh ``preparing`` snapshot, the tar applied
into it (``archive.apply_layer``), the diff ID of what was applied compared with what the image
config promises, and only then ``commit`` under the chain ID. Any failure on the way discards
the directory and its record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from dockyard.image.archive import ApplyOptions, apply_layer
from dockyard.image.compression import Compression, Readable
from dockyard.image.snapshots import Snapshot, Snapshotter
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD

__all__ = ["media_type_for", "open_dirs", "unpack_layer"]

_MEDIA_TYPES = {Compression.GZIP: OCI_LAYER_GZIP, Compression.ZSTD: OCI_LAYER_ZSTD}


def media_type_for(compression: str) -> str:
    """The OCI layer media type of a blob with this compression (xz and bzip2 have none; such
    blobs are described as plain tars, which Docker's loader still decompresses)."""
    return _MEDIA_TYPES.get(compression, OCI_LAYER)


def open_dirs(stack: ExitStack, paths: list[Path]) -> list[int]:
    """O_PATH fds of ``paths``, closed when ``stack`` unwinds."""
    fds = []
    for path in paths:
        fds.append(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        stack.callback(os.close, fds[-1])
    return fds


def unpack_layer(
    snapshots: Snapshotter,
    source: Readable,
    *,
    chain_id: str | None,
    parent: str | None,
    expected: Digest | None,
    blob: str | Callable[[], str] | None,
    media_type: str | None,
    options: ApplyOptions,
    mismatch: Callable[[Digest], Exception],
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """Apply ``source`` as the layer ``chain_id`` on ``parent`` and commit it.

    ``chain_id`` None means "the diff ID" (a first layer whose diff ID is learnt by unpacking,
    as in ``import``); ``expected`` None skips the diff-ID check. ``blob`` names the content-store
    blob the layer came from; a callable is asked after unpacking (an ingest that was hashed as
    it streamed knows its digest only at the end). ``media_type`` None derives it from the
    compression found. Blocking: run it in a worker thread.

    Raises:
        whatever ``mismatch(actual)`` returns, when the diff ID differs from ``expected``;
        LayerFormatError, SystemFailure: from applying the tar.
    """
    with snapshots.prepare_layer(chain_id or "import", parent) as prep, ExitStack() as stack:

        def lowers() -> list[int]:
            return open_dirs(stack, [snapshots.fs(s) for s in snapshots.chain(parent)] if parent else [])

        result = apply_layer(source, prep.root_fd, options=options, progress=progress, lowers=lowers)
        if expected is not None and result.diff_id != expected:
            raise mismatch(result.diff_id)
        return prep.commit(
            str(result.diff_id),
            result.size,
            blob=blob() if callable(blob) else blob,
            media_type=media_type or media_type_for(result.compression),
            chain_id=chain_id or str(result.diff_id),
        )
