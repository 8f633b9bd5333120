"""The json-file log: written by the monitor exactly as dockerd writes it, read by the engine.

**Format.** One JSON object per line, ``{"log":"hello\\n","stream":"stdout","time":"<RFC3339Nano>"}``,
byte for byte what moby's ``jsonlog.JSONLogs.MarshalJSONBuf`` produces, because users and tools
(``docker logs`` clones, log shippers that tail ``*-json.log``) parse these files directly:

- the text is escaped as Go's ffjson-style writer does: ``"`` ``\\`` ``\\n`` ``\\r`` get a backslash,
  every other byte below 0x20 and ``<`` ``>`` ``&`` become ``\\u00XX``, U+2028/U+2029 are escaped,
  other non-ASCII is written raw as UTF-8, and each byte that is not valid UTF-8 becomes
  ``\\ufffd`` (one per byte, as Go's ``utf8.DecodeRune`` reports them);
- the time is Go's RFC3339Nano in UTC: trailing zeros of the fraction are trimmed.

**Lines.** moby's ``logger.Copier`` reads each stream into a 16 KiB buffer and logs every line
(newline kept in the JSON, ``"log":"...\\n"``). A line that does not fit in the buffer is logged
in 16 KiB pieces without a newline ("partial" messages); every piece and the final one carry
the time of the first piece. Text left when the stream ends is logged as a partial message,
so it has no newline either. ``LineSplitter`` reproduces that: a newline counts only if it is
within the first 16 KiB of what is pending.

**Rotation** is moby's ``loggerutils.LogFile``: before each write, if the file has reached
``max-size``, it is renamed to ``.1`` (``.1`` to ``.2``, ... the oldest beyond ``max-file - 1``
removed) and a new file is started; with ``max-file`` 1 the file is truncated instead. A file
can therefore exceed ``max-size`` by one entry, as with dockerd.

**Reading** (``read_log``, ``follow_log``) is for the engine's ``docker logs``: entries from the
rotated files oldest first, then the live file; ``tail`` takes the last N entries before the
``since``/``until`` filters apply (moby's ``tailFile``); following notices rotation by the inode
of the live file changing (or its size shrinking, for ``max-file`` 1) and carries on in the new
file. The reader decodes with ``util.jsoncodec`` and imports ``asyncio`` only inside
``follow_log``, because the monitor process imports this module for the writer.
"""

from __future__ import annotations

import os
import time

from dockyard.monitor.protocol import format_time, parse_time
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

__all__ = ["MAX_LINE", "LineSplitter", "LogEntry", "LogWriter", "encode_entry", "follow_log", "read_log"]

MAX_LINE = 16 * 1024
"""moby's copier buffer (``defaultBufSize``): longer lines are logged in pieces of this size."""

# Go's encoding of a log text, as a str.translate table over text decoded with
# "surrogateescape" (so each invalid byte arrives as one lone surrogate U+DC80..U+DCFF).
_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r"})
_ESCAPES.update({ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_ESCAPES.update({c: "\\ufffd" for c in range(0xDC80, 0xDD00)})


def encode_entry(text: bytes, stream: str, ns: int) -> bytes:
    """One log line as dockerd writes it (including the final newline of the entry).

    ``text`` is the logged bytes as they will appear in ``"log"`` (with their ``\\n`` if it is a
    whole line); ``ns`` is the time in nanoseconds since the epoch.
    """
    escaped = text.decode("utf-8", "surrogateescape").translate(_ESCAPES)
    return f'{{"log":"{escaped}","stream":"{stream}","time":"{format_time(ns)}"}}\n'.encode()


class LogWriter:
    """Append entries to a json-file log, rotating as dockerd does.

    Entries are gathered and written with one ``write(2)`` per ``flush`` (the supervisor
    flushes after each read of output, so a burst of short lines costs one system call, not
    one per line); an entry never straddles two writes, and rotation flushes first.

    Raises (from the constructor, ``write`` and ``flush``):
        OSError: the log's directory is missing or not writable, or the disk is full.
    """

    __slots__ = ("_buffer", "_fd", "_max_file", "_max_size", "_size", "path")

    FLUSH_AT = 1 << 16
    """Buffered bytes that trigger a write without waiting for ``flush``."""

    def __init__(
        self, path: str, *, max_size: int = -1, max_file: int = 1, fd: int = -1, size: int = -1
    ) -> None:
        self.path = path
        self._max_size = max_size
        self._max_file = max_file
        # O_APPEND: each write lands whole at the end even if a reader copies the file meanwhile;
        # a restarted container appends to its old log, as with dockerd. Mode 0640 as moby's.
        # ``fd``: the file, opened so already (by a monitor worker), and ``size`` its size then.
        if fd < 0:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._fd = fd
        # The file's size once the buffer is written.
        self._size = size if size >= 0 else os.fstat(fd).st_size
        self._buffer: list[bytes] = []

    def fileno(self) -> int:
        """The open log file's fd."""
        return self._fd

    @property
    def size(self) -> int:
        """The file's size once the gathered entries are written."""
        return self._size

    def write(self, text: bytes, stream: str, ns: int) -> None:
        """Add one entry (see ``encode_entry``), rotating first if the file is full."""
        if self._max_size > 0 and self._size >= self._max_size:
            self.flush()
            self._rotate()
        entry = encode_entry(text, stream, ns)
        self._buffer.append(entry)
        self._size += len(entry)
        if len(self._buffer) > 512 or len(entry) > self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Write the gathered entries."""
        if not self._buffer:
            return
        view = memoryview(b"".join(self._buffer))
        self._buffer.clear()
        while view:
            view = view[os.write(self._fd, view) :]

    def _rotate(self) -> None:
        os.close(self._fd)
        if self._max_file >= 2:
            try:
                os.unlink(f"{self.path}.{self._max_file - 1}")
            except FileNotFoundError:
                pass
            for index in range(self._max_file - 1, 1, -1):
                try:
                    os.rename(f"{self.path}.{index - 1}", f"{self.path}.{index}")
                except FileNotFoundError:
                    pass
            os.rename(self.path, f"{self.path}.1")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0

    def close(self) -> None:
        """Write what is gathered and close the file; further writes fail."""
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = -1


class LineSplitter:
    """One output stream cut into log messages with moby's copier rules (see the module essay).

    ``feed`` and ``finish`` call ``emit(text, stream, ns)`` for each message; ``text`` keeps its
    newline when it ends a line.
    """

    __slots__ = ("_emit", "_partial_ns", "_pending", "stream")

    def __init__(self, stream: str, emit: Callable[[bytes, str, int], None]) -> None:
        self.stream = stream
        self._emit = emit
        self._pending = b""
        self._partial_ns = 0  # time of the first piece of the line being split; 0 if none

    def feed(self, data: bytes, ns: int | None = None) -> None:
        """Take bytes read from the stream; log every line (and 16 KiB piece) now complete."""
        now = time.time_ns() if ns is None else ns
        pending = self._pending + data if self._pending else data
        start = 0
        while True:
            end = pending.find(b"\n", start, start + MAX_LINE)
            if end >= 0:
                stamp = self._partial_ns or now
                self._partial_ns = 0
                self._emit(pending[start : end + 1], self.stream, stamp)
                start = end + 1
            elif len(pending) - start >= MAX_LINE:
                self._partial_ns = self._partial_ns or now
                self._emit(pending[start : start + MAX_LINE], self.stream, self._partial_ns)
                start += MAX_LINE
            else:
                break
        self._pending = pending[start:]

    def finish(self, ns: int | None = None) -> None:
        """The stream ended: log what is left as a partial message (no newline)."""
        if self._pending:
            stamp = self._partial_ns or (time.time_ns() if ns is None else ns)
            self._emit(self._pending, self.stream, stamp)
        self._pending = b""
        self._partial_ns = 0


# --- reading -------------------------------------------------------------------------------


class LogEntry:
    """One json-file entry: ``stream`` ("stdout" or "stderr"), ``time`` (RFC3339Nano as written)
    and ``data`` (the logged bytes, newline included for whole lines)."""

    __slots__ = ("data", "stream", "time")

    def __init__(self, *, stream: str, time: str, data: bytes) -> None:
        self.stream = stream
        self.time = time
        self.data = data

    @property
    def timestamp_ns(self) -> int:
        """``time`` in nanoseconds since the epoch."""
        return parse_time(self.time)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogEntry):
            return NotImplemented
        return (self.stream, self.time, self.data) == (other.stream, other.time, other.data)

    def __hash__(self) -> int:
        return hash((self.stream, self.time, self.data))

    def __repr__(self) -> str:
        return f"LogEntry(stream={self.stream!r}, time={self.time!r}, data={self.data!r})"


def _decode_line(line: bytes) -> LogEntry | None:
    try:
        obj = jsoncodec.loads(line)
    except (jsoncodec.JSONDecodeError, UnicodeDecodeError):
        return None  # a torn or foreign line: skipped, as a reader of a live file must
    if not isinstance(obj, dict):
        return None
    text, stream, stamp = obj.get("log", ""), obj.get("stream", ""), obj.get("time")
    if not isinstance(text, str) or not isinstance(stream, str) or not isinstance(stamp, str):
        return None
    return LogEntry(stream=stream, time=stamp, data=text.encode("utf-8", "surrogatepass"))


def _rotated_files(path: str) -> list[str]:
    """The rotated files of a log, oldest first."""
    rotated = []
    index = 1
    while os.path.exists(f"{path}.{index}"):
        rotated.append(f"{path}.{index}")
        index += 1
    return rotated[::-1]


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1


def _lines_forward(fd: int, end: int) -> Iterator[bytes]:
    """The whole lines of ``fd`` before offset ``end``; a torn last line is left out."""
    position, pending = 0, b""
    while position < end:
        chunk = os.pread(fd, min(1 << 20, end - position), position)
        if not chunk:
            break
        position += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines


def _lines_backward(fd: int, end: int, count: int) -> list[bytes]:
    """The last ``count`` whole lines of ``fd`` before offset ``end``, read backwards in blocks."""
    data, position = b"", end
    while position > 0 and data.count(b"\n") <= count:
        step = min(65536, position)
        position -= step
        data = os.pread(fd, step, position) + data
    lines = data.split(b"\n")[:-1]  # what follows the last newline is torn or empty
    if position > 0:
        lines = lines[1:]  # the first piece may be the end of an earlier line
    return lines[-count:] if count > 0 else []


def _history(path: str, live_fd: int, live_end: int, tail: int | None) -> Iterator[bytes]:
    """The lines ``read_log`` decodes: all of them, or the last ``tail`` across the files."""
    files: list[tuple[int, int, bool]] = []  # (fd, end, close it)
    for name in _rotated_files(path):
        fd = _open(name)
        if fd >= 0:
            files.append((fd, os.fstat(fd).st_size, True))
    if live_fd >= 0:
        files.append((live_fd, live_end, False))
    try:
        if tail is None or tail < 0:
            for fd, end, _ in files:
                yield from _lines_forward(fd, end)
            return
        gathered: list[bytes] = []
        for fd, end, _ in reversed(files):
            if len(gathered) >= tail:
                break
            gathered = _lines_backward(fd, end, tail - len(gathered)) + gathered
        yield from gathered
    finally:
        for fd, _, owned in files:
            if owned:
                os.close(fd)


def _selected(
    lines: Iterator[bytes] | list[bytes], since_ns: int | None, until_ns: int | None
) -> Iterator[LogEntry | None]:
    """Decoded entries passing ``since``; None once one is after ``until`` (stop there)."""
    for line in lines:
        entry = _decode_line(line)
        if entry is None:
            continue
        stamp = entry.timestamp_ns
        if since_ns is not None and stamp < since_ns:
            continue
        if until_ns is not None and stamp > until_ns:
            yield None
            return
        yield entry


def read_log(
    path: str | os.PathLike[str],
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
) -> Iterator[LogEntry]:
    """The entries of a json-file log (rotated files included), oldest first.

    ``tail`` keeps only the last N entries (None or negative: all; 0: none); then entries
    before ``since_ns`` are skipped and reading stops at the first one after ``until_ns``, as
    ``docker logs --tail/--since/--until`` do. A missing log reads as empty; lines that are not
    log entries (torn by a crash) are skipped.
    """
    name = os.fspath(path)
    live_fd = _open(name)
    try:
        end = os.fstat(live_fd).st_size if live_fd >= 0 else 0
        for entry in _selected(_history(name, live_fd, end, tail), since_ns, until_ns):
            if entry is None:
                return
            yield entry
    finally:
        if live_fd >= 0:
            os.close(live_fd)


async def follow_log(
    path: str | os.PathLike[str],
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
    stopped: Callable[[], bool],
    poll_interval: float = 0.1,
) -> AsyncIterator[LogEntry]:
    """``read_log``, then every entry written afterwards, across rotations (``docker logs -f``).

    It polls the live file every ``poll_interval`` seconds. Once ``stopped()`` returns true
    (the engine's view: the process ended and its monitor has exited, so the log is complete),
    it reads what is left and ends. It also ends at the first entry after ``until_ns``.
    """
    import asyncio  # only the engine follows logs; the monitor must not pay for asyncio

    tailer = _Tailer(os.fspath(path))
    try:
        history = _history(tailer.path, tailer.fd, tailer.offset, tail)
        for entry in _selected(history, since_ns, until_ns):
            if entry is None:
                return
            yield entry
        while True:
            finished = stopped()  # decided before reading, so nothing written before it is lost
            for entry in _selected(tailer.read_lines(), since_ns, until_ns):
                if entry is None:
                    return
                yield entry
            if finished:
                return
            await asyncio.sleep(poll_interval)
    finally:
        tailer.close()


class _Tailer:
    """Whole lines appended to a live log, following it across rotation.

    Rotation renames the live file and starts a new one (a new inode at the same path); with
    ``max-file`` 1 the file is truncated in place (its size drops below our offset).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = _open(path)
        self.offset = os.fstat(self.fd).st_size if self.fd >= 0 else 0
        self._pending = b""

    def _drain(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            chunk = os.pread(self.fd, 1 << 20, self.offset)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            self.offset += len(chunk)

    def _rotated(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False  # between the rename and the new file: look again next time

    def read_lines(self) -> list[bytes]:
        if self.fd < 0:
            self.fd, self.offset = _open(self.path), 0
            if self.fd < 0:
                return []
        if os.fstat(self.fd).st_size < self.offset:
            self.offset, self._pending = 0, b""
        data = self._pending + self._drain()
        if self._rotated():
            data += self._drain()  # the old file is complete now: finish it
            if data and not data.endswith(b"\n"):
                data += b"\n"  # a torn entry must not glue onto the new file's first one
            os.close(self.fd)
            self.fd, self.offset = _open(self.path), 0
            if self.fd >= 0:
                data += self._drain()
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return lines

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
