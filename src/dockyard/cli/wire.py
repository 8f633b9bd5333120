"""The wire: HTTP/1.1 framing over a connected socket, and the Engine API's stream formats.

Parsing HTTP here, over ``_socket``, instead of importing ``http.client`` keeps start-up cheap
(``http.client`` alone costs more than a whole ``dockyard ps`` request). The framing is what the
Engine API uses: a status line and headers, then a body delimited by Content-Length, by chunked
transfer coding, or by the end of the connection; after ``101 UPGRADED`` the same connection
carries a raw duplex stream.

Two stream formats ride on bodies and hijacked connections:

- **stdcopy** (logs, and attach/exec without a TTY): frames of ``[stream, 0, 0, 0, size
  (uint32 big-endian)]`` then ``size`` bytes; stream 1 is stdout, 2 stderr, 3 a system error;
- **JSON messages** (pull, load, import progress): one JSON object per line.
"""

from __future__ import annotations

from dockyard.errors import SystemFailure
from dockyard.util import jsoncodec

__all__ = [
    "Connection",
    "Response",
    "StreamError",
    "demux",
    "encode_query",
    "escape_path",
    "json_messages",
    "read_head",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Iterable, Iterator, Mapping

_CHUNK = 65536


class StreamError(SystemFailure):
    """The daemon reported an error inside a stream (stdcopy's system-error frame)."""


# --- the byte stream ------------------------------------------------------------------------


class Connection:
    """A connected socket with a read buffer: the transport under one or more HTTP exchanges."""

    def __init__(self, sock: _socket.socket, label: str) -> None:
        self.sock = sock
        self.label = label
        self.buffer = bytearray()
        self.reusable = True

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def fill(self) -> bool:
        """Read what is available into the buffer; False at end of stream.

        Raises:
            ConnectionResetError: the daemon reset the connection (callers decide whether an
                answer was due; a reset where a body was expected becomes SystemFailure).
        """
        data = self.sock.recv(_CHUNK)
        self.buffer += data
        return bool(data)

    def readline(self) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                return line
            if not self.fill():
                line = bytes(self.buffer)
                self.buffer.clear()
                return line

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self.fill():
                raise SystemFailure("unexpected EOF from the daemon")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_some(self) -> bytes:
        if not self.buffer and not self.fill():
            return b""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Response:
    """An HTTP response whose body is read on demand."""

    def __init__(self, conn: Connection, status: int, headers: dict[str, str], method: str) -> None:
        self.conn = conn
        self.status = status
        self.headers = headers
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self._remaining: int | None = None
        if not self._chunked and "content-length" in headers:
            self._remaining = int(headers["content-length"])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._remaining = 0
            self._chunked = False
        if self._remaining is None and not self._chunked:
            conn.reusable = False  # the body runs to the end of the connection
        if self._chunked:
            # A streamed answer (pull, logs, load) may be followed by the daemon closing the
            # connection; a new one costs less than a request lost to that race.
            conn.reusable = False
        self._done = self._remaining == 0

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece, as it arrives.

        Raises:
            SystemFailure: the connection broke before the body ended.
        """
        try:
            yield from self._body()
        except OSError as exc:
            raise SystemFailure(f"error reading the daemon's answer: {exc.strerror or exc}") from None

    def _body(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._chunked_body()
        elif self._remaining is not None:
            while self._remaining > 0:
                data = self.conn.read_some()
                if not data:
                    raise SystemFailure("unexpected EOF from the daemon")
                data, extra = data[: self._remaining], data[self._remaining :]
                self.conn.buffer[:0] = extra
                self._remaining -= len(data)
                yield data
        else:
            while data := self.conn.read_some():
                yield data
        self._done = True

    def _chunked_body(self) -> Iterator[bytes]:
        while True:
            line = self.conn.readline()
            if not line:
                raise SystemFailure("unexpected EOF from the daemon")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.conn.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = self.conn.read_exact(size)
            self.conn.read_exact(2)
            yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> object:
        data = self.read()
        if not data.strip():
            return None
        try:
            return jsoncodec.loads(data)
        except jsoncodec.JSONDecodeError as exc:
            raise SystemFailure(f"error reading the daemon's answer: {exc}") from None

    @property
    def finished(self) -> bool:
        return self._done


def read_head(conn: Connection, method: str) -> Response:
    """Read a response's status line and headers from ``conn``; the body stays unread.

    Raises:
        SystemFailure: the daemon closed the connection or sent something that is not HTTP.
    """
    line = conn.readline()
    if not line:
        raise SystemFailure("the daemon closed the connection without answering")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise SystemFailure(f"malformed HTTP response {line[:80]!r}")
    headers: dict[str, str] = {}
    while True:
        header = conn.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("connection", "").lower() == "close":
        conn.reusable = False
    return Response(conn, int(parts[1]), headers, method)


# --- query strings --------------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PATH_SAFE = _UNRESERVED | frozenset(b"/:@!$&'()*+,;=")


def _escape(text: str, safe: frozenset[int], space: str) -> str:
    out = []
    for byte in text.encode():
        if byte in safe:
            out.append(chr(byte))
        elif byte == 0x20 and space:
            out.append(space)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def encode_query(query: Mapping[str, object]) -> str:
    """Go's ``url.Values.Encode``: keys sorted, ``QueryEscape``d; lists repeat the key."""
    parts = []
    for key in sorted(query):
        value = query[key]
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            parts.append(f"{_escape(key, _UNRESERVED, '+')}={_escape(str(item), _UNRESERVED, '+')}")
    return "&".join(parts)


def escape_path(path: str) -> str:
    """A request path with each byte outside RFC 3986's pchar set percent-encoded."""
    return _escape(path, _PATH_SAFE, "")


# --- stream decoders ------------------------------------------------------------------------


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Split a stdcopy stream into (stream, data): 1 stdout, 2 stderr (0 stdin).

    Each frame is ``[stream, 0, 0, 0, size (uint32 big-endian)]`` followed by ``size`` bytes.

    Raises:
        StreamError: a system-error frame (stream 3), carrying the daemon's message.
        SystemFailure: an unknown stream id or a truncated frame.
    """
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8:
            stream = buffer[0]
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            data = bytes(buffer[8 : 8 + size])
            del buffer[: 8 + size]
            if stream == 3:
                raise StreamError(f"error from daemon in stream: {data.decode('utf-8', 'replace')}")
            if stream not in (0, 1, 2):
                raise SystemFailure(f"unrecognized input header: {stream}")
            yield stream, data
    if buffer:
        raise SystemFailure("unexpected EOF in a multiplexed stream")


def json_messages(chunks: Iterable[bytes]) -> Iterator[dict[str, object]]:
    """Decode a stream of JSON objects separated by newlines (pull, load, import progress).

    Raises:
        SystemFailure: a line that is not a JSON object.
    """
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield from _decode_message(line)
    yield from _decode_message(buffer)


def _decode_message(line: bytes) -> Iterator[dict[str, object]]:
    if not line.strip():
        return
    try:
        value = jsoncodec.loads(line)
    except jsoncodec.JSONDecodeError as exc:
        raise SystemFailure(f"error decoding the daemon's progress stream: {exc}") from None
    if isinstance(value, dict):
        yield value
