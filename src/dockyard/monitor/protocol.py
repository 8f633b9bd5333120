"""What crosses between the engine and a monitor: file names, messages, frames, the exit record.

Both sides import this module, so it is written for the cheaper one: the monitor process loads
it at every container start, so it imports no ``json`` (``util.jsoncodec`` drives the C
accelerator), no ``dataclasses``, ``typing`` or ``enum``. Values are small slotted classes.

**Files.** A monitor owns one directory (``config.Paths.monitor_dir``, mode 0700). The engine
writes ``config.json`` there before spawning; the monitor writes ``monitor.pid``, the runtime's
``container.pid`` and ``runtime.log``, listens on ``attach.sock``, and on exit writes
``exit.json`` atomically (``util.atomicfile``). A client that comes after the monitor is gone
reads ``exit.json``; that file is the only durable answer.

**Messages.** Each request is one JSON object on one line (``{"v":1,"op":...}``), answered by one
line: ``{"v":1,"ok":true,...}`` or ``{"v":1,"error":{"kind":...,"message":...}}``. Errors travel
as data and become the matching ``dockyard.errors`` kind on the other side (one encoder, one
decoder: docs/architecture.md section 6). Readers tolerate unknown fields and refuse unknown
versions.

**Frames.** After an ``attach`` answer the connection carries bytes. Towards the client: Docker's
stdcopy frames without a terminal (an 8-byte header: stream byte, three zero bytes, big-endian
32-bit length; Engine API "Attach to a container", "Stream format") so the engine forwards them
unchanged, raw bytes with one. Towards the monitor: the same header shape, with the first byte
saying what the payload is (stdin bytes, end of stdin, a resize).
"""

from __future__ import annotations

import os
import time

from dockyard import errors
from dockyard.util import jsoncodec

__all__ = [
    "CONFIG",
    "CONSOLE_SOCKET",
    "CONTAINER_PID",
    "EXIT_RECORD",
    "FRAME_HEADER",
    "MAX_MESSAGE",
    "MONITOR_LOG",
    "MONITOR_PID",
    "RUNTIME_LOG",
    "SOCKET",
    "STDERR",
    "STDIN",
    "STDOUT",
    "UP_CLOSE_STDIN",
    "UP_RESIZE",
    "UP_STDIN",
    "VERSION",
    "ExitRecord",
    "decode",
    "encode",
    "error_from_data",
    "error_to_data",
    "exit_status",
    "format_time",
    "frame_header",
    "parse_frame_header",
    "parse_time",
    "read_exit_record",
    "reply",
    "started",
    "unwrap",
]

VERSION = 1
"""The protocol version every message and record carries as ``"v"``."""

# --- file names inside a monitor directory -------------------------------------------------
CONFIG = "config.json"
SOCKET = "attach.sock"
CONSOLE_SOCKET = "console.sock"
MONITOR_PID = "monitor.pid"
CONTAINER_PID = "container.pid"
EXIT_RECORD = "exit.json"
RUNTIME_LOG = "runtime.log"
MONITOR_LOG = "monitor.log"

MAX_MESSAGE = 64 * 1024
"""Longest request or answer line; a peer that sends more is cut off."""

# --- frames ----------------------------------------------------------------------------------
STDIN = 0
STDOUT = 1
STDERR = 2
"""Stream numbers of Docker's stdcopy header (moby pkg/stdcopy)."""

UP_STDIN = 0
UP_CLOSE_STDIN = 1
UP_RESIZE = 2
"""Kinds of client-to-monitor frames: stdin bytes, end of this client's stdin, a resize
(payload: height and width, big-endian 16-bit each)."""

FRAME_HEADER = 8


def frame_header(kind: int, size: int) -> bytes:
    """The 8-byte header of a frame of ``size`` payload bytes."""
    return bytes((kind, 0, 0, 0)) + size.to_bytes(4, "big")


def parse_frame_header(header: bytes) -> tuple[int, int]:
    """(kind, payload size) of an 8-byte frame header.

    Raises:
        InvalidArgument: the header is not 8 bytes or its padding is not zero.
    """
    if len(header) != FRAME_HEADER or header[1:4] != b"\0\0\0":
        raise errors.InvalidArgument("malformed frame header")
    return header[0], int.from_bytes(header[4:8], "big")


# --- messages --------------------------------------------------------------------------------
def encode(message: dict[str, object]) -> bytes:
    """One message as a JSON line, with ``"v"`` set."""
    return (jsoncodec.dumps({"v": VERSION, **message}) + "\n").encode()


def decode(line: bytes) -> dict[str, object]:
    """Parse one message line.

    Raises:
        InvalidArgument: not a JSON object, too long, or of another protocol version.
    """
    if len(line) > MAX_MESSAGE:
        raise errors.InvalidArgument("monitor message too long")
    try:
        value = jsoncodec.loads(line)
    except (jsoncodec.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"malformed monitor message: {exc}") from None
    if not isinstance(value, dict):
        raise errors.InvalidArgument("malformed monitor message: not an object")
    if value.get("v") != VERSION:
        raise errors.InvalidArgument(f"unsupported monitor protocol version {value.get('v')!r}")
    return value


def reply(**fields: object) -> bytes:
    """A success answer carrying ``fields``."""
    return encode({"ok": True, **fields})


def started(pid: int) -> bytes:
    """The answer to ``start``, byte for byte ``reply(pid=pid)``, formatted without the JSON
    encoder: a monitor sends it before it goes idle, and the encoder's first use would cost
    every monitor ~35 KiB of private memory (see ``monitor.zygote``)."""
    return b'{"v":%d,"ok":true,"pid":%d}\n' % (VERSION, pid)


# Kinds that can be rebuilt from a message alone. Specific errors whose constructor takes
# something else (NoSuchContainer takes a ref) travel as their kind.
_KINDS: dict[str, type[errors.DockyardError]] = {
    cls.__name__: cls
    for cls in (
        errors.RuntimeFailed,
        errors.MonitorLost,
        errors.CorruptRecord,
        errors.InvalidArgument,
        errors.NotFound,
        errors.Conflict,
        errors.NotModified,
        errors.Unauthorized,
        errors.Forbidden,
        errors.Unsupported,
        errors.Unavailable,
        errors.SystemFailure,
    )
}


def error_to_data(exc: BaseException) -> dict[str, object]:
    """An exception as ``{"kind", "message"[, "status"]}``; unknown exceptions are SystemFailure."""
    kind = "SystemFailure"
    for cls in type(exc).__mro__:
        if cls.__name__ in _KINDS and _KINDS[cls.__name__] is cls:
            kind = cls.__name__
            break
    data: dict[str, object] = {"kind": kind, "message": str(exc) or type(exc).__name__}
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        data["status"] = status
    return data


def error_from_data(data: object) -> errors.DockyardError:
    """The exception an ``"error"`` member describes (SystemFailure if it is malformed)."""
    if not isinstance(data, dict):
        return errors.SystemFailure("malformed error from monitor")
    message = str(data.get("message", ""))
    cls = _KINDS.get(str(data.get("kind")), errors.SystemFailure)
    if cls is errors.RuntimeFailed:
        status = data.get("status")
        return errors.RuntimeFailed(message, status=status if isinstance(status, int) else None)
    return cls(message)


def unwrap(message: dict[str, object]) -> dict[str, object]:
    """Return a success answer as is; raise the error an error answer carries.

    Raises:
        DockyardError: the kind named by the answer's ``"error"``.
    """
    if "error" in message:
        raise error_from_data(message["error"])
    if message.get("ok") is not True:
        raise errors.SystemFailure("malformed answer from monitor")
    return message


# --- time ------------------------------------------------------------------------------------
_last_second: list[object] = [None, ""]


def format_time(ns: int) -> str:
    """Nanoseconds since the epoch as Go's RFC3339Nano in UTC (trailing zeros trimmed).

    This is what Docker writes in json-file logs and in State.StartedAt/FinishedAt:
    ``2024-01-02T03:04:05.12345678Z``; a whole second has no fraction.
    """
    seconds, fraction = divmod(ns, 1_000_000_000)
    if seconds == _last_second[0]:  # a busy log formats the same second thousands of times
        base = str(_last_second[1])
    else:
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second[:] = [seconds, base]
    if not fraction:
        return base + "Z"
    return f"{base}.{fraction:09d}".rstrip("0") + "Z"


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``Z`` or ``+hh:mm``, up to 9 digits).

    Raises:
        InvalidArgument: ``text`` is not such a time.
    """
    try:
        if len(text) < 20 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt":
            raise ValueError(text)
        if text[13] != ":" or text[16] != ":":
            raise ValueError(text)
        digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
        if not digits.isdigit():
            raise ValueError(text)
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
            raise ValueError(text)
        rest, fraction = text[19:], 0
        if rest.startswith("."):
            end = 1
            while end < len(rest) and rest[end].isdigit():
                end += 1
            if end == 1 or end > 10:
                raise ValueError(text)
            fraction = int(rest[1:end].ljust(9, "0"))
            rest = rest[end:]
        offset = 0
        if rest in ("Z", "z"):
            pass
        elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":" and (rest[1:3] + rest[4:]).isdigit():
            offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60 * (1 if rest[0] == "+" else -1)
        else:
            raise ValueError(text)
    except (ValueError, IndexError):
        raise errors.InvalidArgument(f"invalid RFC 3339 time {text!r}") from None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000_000 + fraction


# --- exit status -----------------------------------------------------------------------------
def exit_status(wait_status: int) -> tuple[int, int | None]:
    """(exit code, signal) of a ``waitpid`` status: 128+N for death by signal N, as shells and
    Docker report it (a SIGKILLed container exits 137)."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        return 128 + sig, sig
    return os.waitstatus_to_exitcode(wait_status), None


class ExitRecord:
    """How a supervised process ended; written once by its monitor, read by the engine.

    ``exit_code`` is the process's status, or 128+N if signal N killed it (then ``signal`` is
    N). ``oom_killed`` says the kernel's OOM killer fired in the container's memory cgroup while
    it ran. Times are RFC3339Nano strings in UTC, as Docker's State shows them. Treat instances
    as immutable values.
    """

    __slots__ = ("exit_code", "finished_at", "oom_killed", "pid", "signal", "started_at")

    def __init__(
        self,
        *,
        exit_code: int,
        signal: int | None,
        oom_killed: bool,
        started_at: str,
        finished_at: str,
        pid: int,
    ) -> None:
        self.exit_code = exit_code
        self.signal = signal
        self.oom_killed = oom_killed
        self.started_at = started_at
        self.finished_at = finished_at
        self.pid = pid

    def to_json(self) -> dict[str, object]:
        """The record as its JSON object (with ``"v"``)."""
        return {
            "v": VERSION,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "oom_killed": self.oom_killed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, data: object) -> ExitRecord:
        """Rebuild a record from its JSON object.

        Raises:
            CorruptRecord: not an object, another version, or a field of the wrong type.
        """
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise errors.CorruptRecord("exit record: unknown version or not an object")
        code, sig, oom = data.get("exit_code"), data.get("signal"), data.get("oom_killed")
        started, finished, pid = data.get("started_at"), data.get("finished_at"), data.get("pid")
        if (
            not isinstance(code, int)
            or isinstance(code, bool)
            or not (sig is None or (isinstance(sig, int) and not isinstance(sig, bool)))
            or not isinstance(oom, bool)
            or not isinstance(started, str)
            or not isinstance(finished, str)
            or not isinstance(pid, int)
            or isinstance(pid, bool)
        ):
            raise errors.CorruptRecord("exit record: a field is missing or has the wrong type")
        return cls(
            exit_code=code, signal=sig, oom_killed=oom, started_at=started, finished_at=finished, pid=pid
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExitRecord):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.exit_code, self.signal, self.oom_killed, self.finished_at, self.pid))

    def __repr__(self) -> str:
        return (
            f"ExitRecord(exit_code={self.exit_code}, signal={self.signal}, oom_killed={self.oom_killed},"
            f" started_at={self.started_at!r}, finished_at={self.finished_at!r}, pid={self.pid})"
        )


def read_exit_record(monitor_dir: str | os.PathLike[str]) -> ExitRecord | None:
    """The exit record in ``monitor_dir``, or None if the process has not ended (or never ran).

    Raises:
        CorruptRecord: the file exists but cannot be parsed.
    """
    path = os.path.join(monitor_dir, EXIT_RECORD)
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_MESSAGE + 1)
    except FileNotFoundError:
        return None
    try:
        return ExitRecord.from_json(jsoncodec.loads(raw))
    except (jsoncodec.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.CorruptRecord(f"exit record {path}: {exc}") from None
