"""MonitorConfig: everything a monitor needs to know, checked once, written as ``config.json``.

The engine builds a ``MonitorConfig``, writes it into the monitor's directory and spawns the
monitor, which reads it back with ``MonitorConfig.from_json``. Both directions go through the
same constructor, so a config the engine could build is exactly a config the monitor accepts,
and a hand-edited or truncated file is refused with the field that is wrong.

This is a slotted class rather than a dataclass because the monitor process loads it at every
container start and must not import ``dataclasses`` (13 ms here; docs/unwritten-rules.md).
"""

from __future__ import annotations

import os

from dockyard import errors
from dockyard.util import jsoncodec

__all__ = ["MODES", "MonitorConfig"]

MODES = ("init", "exec")
"""``init``: create and start a container. ``exec``: run one more process in a running one."""

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def _check_id(field: str, value: object) -> str:
    # runc's container id grammar: ^[\w+\-\.]+$ (libcontainer/factory_linux.go), minus "." and "..".
    if not isinstance(value, str) or not value or len(value) > 1024 or not set(value) <= _ID_CHARS:
        raise errors.InvalidArgument(f"monitor config: {field} {value!r} is not a valid id")
    if value in (".", ".."):
        raise errors.InvalidArgument(f"monitor config: {field} {value!r} is not a valid id")
    return value


def _check_path(field: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise errors.InvalidArgument(f"monitor config: {field} must be an absolute path, not {value!r}")
    return value


def _check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise errors.InvalidArgument(f"monitor config: {field} must be true or false")
    return value


def _check_int(field: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise errors.InvalidArgument(f"monitor config: {field} must be an integer in [{low}, {high}]")
    return value


class MonitorConfig:
    """What one monitor supervises and how. Treat instances as immutable values.

    Attributes:
        task_id: the container ID (init) or exec ID this monitor serves; used in messages.
        container_id: the OCI runtime's container ID (for exec: the container joined).
        mode: ``"init"`` (runtime create, then start on request) or ``"exec"`` (runtime exec on
            the start request).
        monitor_dir: the monitor's own directory (mode 0700): socket, pid files, exit record.
        runtime: absolute path of a runc-grammar runtime (runc, crun, dockyard-runtime).
        runtime_root: its ``--root``; the monitor adds ``--log`` and ``--log-format json``.
        runtime_args: more global arguments for the runtime, placed before the command.
        bundle: the OCI bundle (init mode).
        process_path: the ``process.json`` handed to ``runtime exec --process`` (exec mode).
        terminal: the process has a pseudo-terminal (the bundle or process.json must say
            ``terminal: true`` too); its master comes over a console socket.
        stdin: keep the process's stdin open for attach clients (``docker run -i``).
        stdin_once: close the process's stdin when the first attach session with stdin ends
            (Docker's ``StdinOnce``; no effect with a terminal, as in moby).
        console_size: (height, width) set on the terminal once the runtime hands it over: before
            ``start`` for an init process; for an exec the process already runs by then, so put
            ``consoleSize`` in process.json too (the runtime sizes the pty first, as with Docker).
        log_path: the json-file log; None writes no log (exec sessions).
        log_max_size: rotate when the log reaches this many bytes; -1 never rotates.
        log_max_file: how many files to keep, the live one included (moby's ``max-file``).

    Raises:
        InvalidArgument: a field is missing, of the wrong type, or inconsistent with the mode.
    """

    __slots__ = (
        "bundle",
        "console_size",
        "container_id",
        "log_max_file",
        "log_max_size",
        "log_path",
        "mode",
        "monitor_dir",
        "process_path",
        "runtime",
        "runtime_args",
        "runtime_root",
        "stdin",
        "stdin_once",
        "task_id",
        "terminal",
    )

    def __init__(
        self,
        *,
        task_id: str,
        container_id: str,
        mode: str,
        monitor_dir: str | os.PathLike[str],
        runtime: str | os.PathLike[str],
        runtime_root: str | os.PathLike[str],
        runtime_args: tuple[str, ...] | list[str] = (),
        bundle: str | os.PathLike[str] | None = None,
        process_path: str | os.PathLike[str] | None = None,
        terminal: bool = False,
        stdin: bool = False,
        stdin_once: bool = False,
        console_size: tuple[int, int] | list[int] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        log_max_size: int = -1,
        log_max_file: int = 1,
    ) -> None:
        self.task_id = _check_id("task_id", task_id)
        self.container_id = _check_id("container_id", container_id)
        if mode not in MODES:
            raise errors.InvalidArgument(f"monitor config: mode must be one of {MODES}, not {mode!r}")
        self.mode: str = mode
        self.monitor_dir: str = _check_path("monitor_dir", monitor_dir)  # type: ignore[assignment]
        self.runtime: str = _check_path("runtime", runtime)  # type: ignore[assignment]
        self.runtime_root: str = _check_path("runtime_root", runtime_root)  # type: ignore[assignment]
        if not isinstance(runtime_args, tuple | list) or not all(isinstance(a, str) for a in runtime_args):
            raise errors.InvalidArgument("monitor config: runtime_args must be a list of strings")
        self.runtime_args: tuple[str, ...] = tuple(runtime_args)
        self.bundle = _check_path("bundle", bundle, optional=True)
        self.process_path = _check_path("process_path", process_path, optional=True)
        if mode == "init" and self.bundle is None:
            raise errors.InvalidArgument("monitor config: init mode needs a bundle")
        if mode == "exec" and self.process_path is None:
            raise errors.InvalidArgument("monitor config: exec mode needs a process_path")
        self.terminal = _check_bool("terminal", terminal)
        self.stdin = _check_bool("stdin", stdin)
        self.stdin_once = _check_bool("stdin_once", stdin_once)
        self.console_size = self._check_console_size(console_size)
        self.log_path = _check_path("log_path", log_path, optional=True)
        self.log_max_size = _check_int("log_max_size", log_max_size, -1, 1 << 62)
        if self.log_max_size == 0:
            raise errors.InvalidArgument("monitor config: log_max_size must be positive, or -1")
        self.log_max_file = _check_int("log_max_file", log_max_file, 1, 1 << 16)

    @staticmethod
    def _check_console_size(value: object) -> tuple[int, int] | None:
        if value is None:
            return None
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise errors.InvalidArgument("monitor config: console_size must be [height, width]")
        return (
            _check_int("console height", value[0], 0, 65535),
            _check_int("console width", value[1], 0, 65535),
        )

    def path(self, name: str) -> str:
        """A file of the monitor directory (names in ``monitor.protocol``)."""
        return os.path.join(self.monitor_dir, name)

    def to_json(self) -> dict[str, object]:
        """The config as the JSON object written to ``config.json``."""
        data: dict[str, object] = {"v": 1}
        for name in self.__slots__:
            value = getattr(self, name)
            data[name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_json(cls, data: object) -> MonitorConfig:
        """Rebuild a config from its JSON object, checking every field.

        Raises:
            InvalidArgument: not an object, another version, an unknown or bad field.
        """
        if not isinstance(data, dict) or data.get("v") != 1:
            raise errors.InvalidArgument("monitor config: not a version 1 object")
        fields = {k: v for k, v in data.items() if k != "v"}
        unknown = set(fields) - set(cls.__slots__)
        if unknown:
            raise errors.InvalidArgument(f"monitor config: unknown field {sorted(unknown)[0]!r}")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise errors.InvalidArgument(f"monitor config: {exc}") from None

    @classmethod
    def load(cls, path: str) -> MonitorConfig:
        """Read and check ``config.json``.

        Raises:
            InvalidArgument: the file is not valid JSON or not a valid config.
            OSError: the file cannot be read.
        """
        with open(path, "rb") as file:
            raw = file.read(1 << 20)
        try:
            return cls.from_json(jsoncodec.loads(raw))
        except (jsoncodec.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.InvalidArgument(f"monitor config {path}: {exc}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MonitorConfig):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.task_id, self.monitor_dir))

    def __repr__(self) -> str:
        return (
            f"MonitorConfig(task_id={self.task_id!r}, mode={self.mode!r}, monitor_dir={self.monitor_dir!r})"
        )
