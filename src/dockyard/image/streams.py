"""Byte streams between the event loop and worker threads, and a streaming tar writer.

``load`` and ``import`` receive an HTTP body as an async iterator of chunks, but tar parsing and
layer unpacking are blocking work for a worker thread. :class:`ChunkPipe` joins the two with a
small bounded queue: the loop side awaits room (back-pressure reaches the client's socket), the
thread side blocks on ``read``. Nothing is spooled whole, so memory stays flat whatever the size.

:class:`TarWriter` produces a tar stream piece by piece (``docker save``), so a multi-gigabyte
archive is sent while it is being written.
"""

from __future__ import annotations

import asyncio
import queue
import tarfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from dockyard.errors import SystemFailure

__all__ = ["ChunkPipe", "TarWriter", "feed_pipe", "in_thread_to_the_end"]

_T = TypeVar("_T")

_EOF = b""


class ChunkPipe:
    """A one-way pipe of byte chunks from the loop to one reading thread."""

    def __init__(self, depth: int = 8) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._buffer = b""
        self._ended = False
        self.closed = threading.Event()

    async def put(self, chunk: bytes) -> None:
        """Hand a chunk over, waiting while the reader is behind."""
        if chunk:
            await asyncio.to_thread(self._queue.put, chunk)

    async def finish(self, error: BaseException | None = None) -> None:
        """Signal the end of the stream (or a failure the reader should raise)."""
        await asyncio.to_thread(self._queue.put, error if error is not None else _EOF)

    def abandon(self) -> None:
        """The reader gave up: let a blocked writer through and drop what comes later."""
        self.closed.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end. Raises the writer's error, if it sent one."""
        while not self._buffer and not self._ended:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            if item == _EOF:
                self._ended = True
            self._buffer = item
        if n is None or n < 0 or n >= len(self._buffer):
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def drain(self) -> None:
        """Read and discard the rest (so the writer is never left blocked)."""
        while self.read(1 << 20):
            pass


async def feed_pipe(chunks: AsyncIterator[bytes], pipe: ChunkPipe) -> None:
    """Copy ``chunks`` into ``pipe`` and close it; an error of the source reaches the reader."""
    try:
        async for chunk in chunks:
            if pipe.closed.is_set():
                return
            await pipe.put(chunk)
    except BaseException as exc:
        if not pipe.closed.is_set():
            await pipe.finish(SystemFailure(f"request body: {exc}"))
        raise
    if not pipe.closed.is_set():
        await pipe.finish()


class TarWriter:
    """Builds a tar stream entry by entry (PAX format, as Go's archive/tar writes when needed)."""

    def __init__(self, mtime: float = 0.0) -> None:
        self._mtime = mtime

    def directory(self, name: str) -> bytes:
        """A directory entry (``name`` ends with ``/``)."""
        info = self._info(name.rstrip("/") + "/", 0)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def file_header(self, name: str, size: int, mtime: float | None = None) -> bytes:
        """The header of a regular file; its ``size`` bytes and :meth:`padding` follow."""
        info = self._info(name, size)
        if mtime is not None:
            info.mtime = mtime
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def file(self, name: str, data: bytes, mtime: float | None = None) -> bytes:
        """A whole small file: header, content and padding."""
        return self.file_header(name, len(data), mtime) + data + self.padding(len(data))

    @staticmethod
    def padding(size: int) -> bytes:
        """Zero bytes that complete a file's last 512-byte block."""
        return b"\0" * (-size % tarfile.BLOCKSIZE)

    @staticmethod
    def end() -> bytes:
        """The two zero blocks that end an archive."""
        return b"\0" * (2 * tarfile.BLOCKSIZE)

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        info.mtime = self._mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info


async def in_thread_to_the_end(function: Callable[[], _T]) -> _T:
    """``asyncio.to_thread(function)``, except that a cancelled caller waits for the thread to end.

    A thread cannot be stopped, and cancelling ``to_thread`` returns at once while the thread goes
    on. Work that writes into a directory (unpacking a layer) or reads through a descriptor (an
    ingest's reader) must not outlive the caller: the caller's clean-up removes the directory and
    closes the descriptor. A cancelled pull fails its ingests, so a thread blocked on one wakes at
    once; this waits for that, then re-raises the cancellation.
    """
    future = asyncio.get_running_loop().run_in_executor(None, function)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # the work's own failure (its ingest was failed) is moot now
        raise
