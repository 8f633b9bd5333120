"""Unpacking one layer blob into a committed snapshot: the step pull, load and import share.

``unpack_layer`` does it in the calling thread (load and import, one layer at a time);
``unpack_in_child`` runs ``archive.apply_layer`` in an unpacker process fed through a pipe (the
pull, several layers at once: see ``unpacker.py`` for why a process and not a thread).

The order matters and is the same everywhere: a fresh ``preparing`` snapshot, the tar applied
into it (``archive.apply_layer``), the diff ID of what was applied compared with what the image
config promises, and only then ``commit`` under the chain ID. Any failure on the way discards
the directory and its record.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from dockyard.errors import SystemFailure
from dockyard.image.archive import ApplyOptions, ApplyResult, apply_layer
from dockyard.image.compression import Compression, LayerFormatError, Readable
from dockyard.image.snapshots import Snapshot, Snapshotter
from dockyard.image.streams import in_thread_to_the_end
from dockyard.image.unpacker import NEED_LOWERS
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from dockyard.util import jsoncodec

__all__ = [
    "LowersNeeded",
    "media_type_for",
    "open_dirs",
    "unpack_in_child",
    "unpack_in_thread",
    "unpack_layer",
]

_FEED_CHUNK = 1 << 20
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


class LowersNeeded(Exception):
    """The unpacker met a hard link into a lower layer before the lower layers were complete."""


async def unpack_in_child(
    source: Readable,
    root: Path,
    *,
    lowers: list[Path],
    lowers_ready: bool,
    options: ApplyOptions,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Apply the layer ``source`` yields to ``root`` in an unpacker process (``unpacker.py``).

    ``source.read`` is called in worker threads (it may wait for a download). The child is
    killed if this is cancelled or ``source`` fails.

    Raises:
        LowersNeeded: retry with ``lowers_ready`` once the lower layers are complete.
        InvalidArgument: the layer is malformed or over a bound (the unpacker's message).
        SystemFailure: the unpacker failed otherwise, or could not be started.
    """
    argv = [sys.executable, "-I", "-B", "-m", "dockyard.image.unpacker", str(root)]
    for lower in lowers:
        argv += ["--lower", str(lower)]
    argv += ["--max-bytes", str(options.max_bytes)]
    argv += ["--lowers-ready"] if lowers_ready else []
    argv += ["--keep-whiteouts"] if options.whiteouts == "keep" else []
    argv += [] if options.privileged else ["--unprivileged"]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _feed(proc, source, progress)
        out, err = await asyncio.gather(_read_all(proc.stdout), _read_all(proc.stderr))
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _answer(out, err, proc.returncode)


async def _feed(
    proc: asyncio.subprocess.Process, source: Readable, progress: Callable[[int], None] | None
) -> None:
    stdin = proc.stdin
    assert stdin is not None
    count = 0
    try:
        while chunk := await in_thread_to_the_end(lambda: source.read(_FEED_CHUNK)):
            stdin.write(chunk)
            await stdin.drain()
            count += len(chunk)
            if progress is not None:
                progress(count)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the unpacker stopped reading: its answer says why
    finally:
        stdin.close()


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    return await stream.read() if stream is not None else b""


def _answer(out: bytes, err: bytes, status: int | None) -> ApplyResult:
    try:
        answer = jsoncodec.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        words = err.decode(errors="replace").strip().splitlines()
        raise SystemFailure(f"layer unpacker: exit status {status}: {words[-1] if words else 'no answer'}")
    error = answer.get("error")
    if isinstance(error, dict):
        message = str(error.get("message", ""))
        if error.get("kind") == NEED_LOWERS:
            raise LowersNeeded(message)
        if error.get("kind") == "InvalidArgument":
            raise LayerFormatError(message)
        raise SystemFailure(message)
    return ApplyResult(
        diff_id=Digest.parse(str(answer["diff_id"])),
        size=int(str(answer["size"])),
        uncompressed=int(str(answer["uncompressed"])),
        compression=str(answer["compression"]),
    )


async def unpack_in_thread(
    source: Readable,
    root: Path,
    *,
    lowers: list[Path],
    lowers_ready: bool,
    options: ApplyOptions,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """``unpack_in_child``'s contract, in a worker thread: for small layers, where starting a
    process costs more than the unpacking (``progress`` is still called in the loop's thread)."""
    loop = asyncio.get_running_loop()

    def report(count: int) -> None:
        if progress is not None:
            loop.call_soon_threadsafe(progress, count)

    def work() -> ApplyResult:
        with ExitStack() as stack:

            def lower_fds() -> list[int]:
                if not lowers_ready:
                    raise LowersNeeded("the lower layers are needed")
                return open_dirs(stack, lowers)

            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            return apply_layer(source, fd, options=options, progress=report, lowers=lower_fds)

    # Never return while the thread may still write into ``root``: the caller removes it.
    return await in_thread_to_the_end(work)
