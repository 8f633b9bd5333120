"""Layer decompression: in-process, streaming, and bounded.

Layers arrive gzip-compressed (Docker and most OCI images), zstd-compressed (OCI ``+zstd``),
uncompressed (``docker save`` archives, ``import``), and, for ``load``/``import`` only, as xz or
bzip2. The format is taken from the first bytes, as Docker's ``DetectCompression`` does, not
from a media type a registry chose.

Two rules from the CVE history (reliability-security.md §2.5): decompression never runs an
external program (CVE-2014-9357 ran ``xz``), and it never produces more than the reader asked
for. Every decoder here is driven with an output bound (``max_length`` for zlib, lzma and bz2,
``read(n)`` for zstd's stream reader), so a 1000:1 bomb costs one buffer of memory, not its
expansion; the total is capped by the caller (:class:`dockyard.image.archive.ApplyOptions`).

Concatenated streams are accepted the way Go's readers accept them (a gzip multistream, several
zstd frames); bytes after the end that do not start another stream are refused.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Protocol

from dockyard.errors import InvalidArgument

__all__ = ["Compression", "LayerFormatError", "Readable", "detect", "open_decompressed"]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_XZ = b"\xfd7zXZ\x00"
_BZIP2 = b"BZh"
_PEEK = 6


class Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (``b""`` at the end)."""

    def read(self, n: int = -1, /) -> bytes: ...


class LayerFormatError(InvalidArgument):
    """A layer or archive stream is malformed: bad compression, bad tar, over a bound."""


class Compression:
    """Names of the formats :func:`detect` recognises."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    XZ = "xz"
    BZIP2 = "bzip2"


def detect(head: bytes) -> str:
    """The compression of a stream that starts with ``head`` (at least 6 bytes when available)."""
    if head.startswith(_GZIP):
        return Compression.GZIP
    if head.startswith(_ZSTD):
        return Compression.ZSTD
    if head.startswith(_XZ):
        return Compression.XZ
    if head.startswith(_BZIP2):
        return Compression.BZIP2
    return Compression.NONE


class _Prefixed:
    """A reader that first returns bytes already peeked, then the rest of the source."""

    def __init__(self, head: bytes, source: Readable) -> None:
        self._head = head
        self._source = source

    def read(self, n: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._source.read(n)


def open_decompressed(source: Readable, *, allowed: tuple[str, ...] | None = None) -> tuple[str, Readable]:
    """Detect the compression of ``source`` and return (format, a reader of the plain bytes).

    ``allowed`` restricts the formats (a registry layer may be gzip, zstd or plain only).

    Raises:
        LayerFormatError: the format is not in ``allowed``.
    """
    head = b""
    while len(head) < _PEEK:
        chunk = source.read(_PEEK - len(head))
        if not chunk:
            break
        head += chunk
    kind = detect(head)
    if allowed is not None and kind not in allowed:
        raise LayerFormatError(f"unsupported layer compression: {kind}")
    raw = _Prefixed(head, source)
    if kind == Compression.NONE:
        return kind, raw
    if kind == Compression.ZSTD:
        return kind, _ZstdReader(raw)
    return kind, _ChunkedInflater(raw, kind)


class _ChunkedInflater:
    """gzip (zlib), xz (lzma) and bzip2 behind one ``read(n)``, each call bounded by ``n``."""

    _READ = 1 << 16

    def __init__(self, raw: Readable, kind: str) -> None:
        self._raw = raw
        self._kind = kind
        self._pending = b""  # compressed input not yet handed to the decoder
        self._decoder = self._new_decoder()
        self._done = False

    def _new_decoder(self) -> zlib._Decompress | lzma.LZMADecompressor | bz2.BZ2Decompressor:
        if self._kind == Compression.GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind == Compression.XZ:
            return lzma.LZMADecompressor(lzma.FORMAT_XZ)
        return bz2.BZ2Decompressor()

    def read(self, n: int = -1, /) -> bytes:
        want = self._READ if n is None or n <= 0 else n
        try:
            while not self._done:
                out = self._step(want)
                if out:
                    return out
            return b""
        except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
            raise LayerFormatError(f"invalid {self._kind} stream: {exc}") from exc

    def _step(self, want: int) -> bytes:
        decoder = self._decoder
        if decoder.eof:
            self._next_stream()
            return b""
        if not isinstance(decoder, (lzma.LZMADecompressor, bz2.BZ2Decompressor)):
            # zlib keeps input beyond max_length in unconsumed_tail rather than inside.
            data = decoder.unconsumed_tail or self._take_input()
            out = decoder.decompress(data, want)
        else:
            data = self._take_input() if decoder.needs_input else b""
            out = decoder.decompress(data, want)
        if not out and not data and not decoder.eof:
            raise LayerFormatError(f"invalid {self._kind} stream: unexpected end of data")
        return out

    def _take_input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw.read(self._READ)

    def _next_stream(self) -> None:
        """After one stream ended: another may follow (multistream), or the end must."""
        rest = self._decoder.unused_data or self._raw.read(self._READ)
        if not rest:
            self._done = True
            return
        if detect(rest) != self._kind and not (self._kind == Compression.GZIP and rest.startswith(_GZIP)):
            raise LayerFormatError(f"invalid {self._kind} stream: trailing data after the end")
        self._pending = rest
        self._decoder = self._new_decoder()


class _ZstdReader:
    """zstd through the ``zstandard`` package's stream reader (it honours ``read(n)``)."""

    def __init__(self, raw: Readable) -> None:
        try:
            import zstandard
        except ImportError as exc:  # pragma: no cover - the dependency is declared
            raise LayerFormatError("zstd layers need the zstandard package") from exc
        self._error = zstandard.ZstdError
        # max_window_size bounds the decoder's memory (zstd's default limit is 128 MiB).
        decoder = zstandard.ZstdDecompressor(max_window_size=1 << 27)
        self._reader = decoder.stream_reader(raw, read_size=1 << 16, read_across_frames=True)  # type: ignore[arg-type]

    def read(self, n: int = -1, /) -> bytes:
        want = 1 << 16 if n is None or n <= 0 else n
        try:
            out: bytes = self._reader.read(want)
        except self._error as exc:
            raise LayerFormatError(f"invalid zstd stream: {exc}") from exc
        return out
