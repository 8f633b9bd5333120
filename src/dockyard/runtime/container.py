"""RuntimeContainer: one container's record in the runtime's state directory.

Layout (runc's, under ``--root``, default ``/run/dockyard-runtime``)::

    <root>/<id>/state.marshal  the record, replaced atomically (tmpfs: no fsync needed)
    <root>/<id>/exec.fifo      exists from ``create`` until ``start``: the helper blocks on it
    <root>/<id>/lock           flock held by every command for the duration of its work

Status is derived, never trusted from the file, exactly as runc does it: the recorded init pid
must be alive *and* have the start time (field 22 of ``/proc/<pid>/stat``) recorded at create,
so a recycled pid is not mistaken for the container; a zombie counts as stopped. A live init
with the fifo still present is ``created``; a frozen cgroup is ``paused``; else ``running``.

**Start-up cost.** Every runtime command but ``create`` starts here, and a short command is
mostly Python's start-up, so this module is written for it:

- the record is a ``marshal`` dump (a plain dict of str, int, list and dict: the recorded
  config.json included), which the interpreter reads with no import at all, where JSON needs
  the ``_json`` extension and ``util.jsoncodec`` (~0.5 ms). The file is private to the runtime,
  written and read by root only, by the same interpreter; ``state`` prints runc's JSON;
- it uses ``posix``, the C core of ``os``, as the runtime already uses ``_signal`` and
  ``_socket``: importing ``os`` costs ~1.5 ms (``_collections_abc``, ``posixpath``), a seventh
  of a whole ``start``, and nothing here needs its Python layer. ``os`` is imported where it is
  needed (``reserve``, which only ``create`` calls);
- errors are imported where they are raised (``failures``, ``dockyard.errors``): the classes
  cost another half millisecond, and a command that succeeds never needs them;
- the State type, the atomic writer and the cgroup machinery are imported by the methods that
  use them.

A record written by an earlier version as ``state.json`` is still read.
"""

from __future__ import annotations

import fcntl
import marshal
import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.state import State
    from dockyard.runtime.cgroups import Cgroup

__all__ = ["DEFAULT_ROOT", "RuntimeContainer", "process_start_time", "validate_id"]

DEFAULT_ROOT = "/run/dockyard-runtime"
STATE_FILE = "state.marshal"
_LEGACY_STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def validate_id(ident: str) -> None:
    """runc's id rule: ``[A-Za-z0-9_+.-]+``, not ``.`` or ``..`` (it becomes a directory name).

    Raises:
        InvalidArgument: the id is empty or has other characters.
    """
    if not ident or ident in (".", "..") or not _ID_CHARS.issuperset(ident):
        from dockyard.errors import InvalidArgument

        raise InvalidArgument(f"invalid id format: {ident}")


def process_start_time(pid: int) -> int | None:
    """Field 22 (starttime) of ``/proc/<pid>/stat``; None if gone or a zombie (proc(5))."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class _Held:
    """A held flock: the fd, closed (and so unlocked) when the ``with`` block ends."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *exc: object) -> None:
        posix.close(self.fd)


class RuntimeContainer:
    """A container's persisted record and the operations on its state directory."""

    def __init__(self, root: str, ident: str, record: dict[str, object]) -> None:
        self.root = root
        self.id = ident
        self.dir = _join(root, ident)
        self.record = record

    # --- creation and loading -------------------------------------------------------------

    @classmethod
    def reserve(cls, root: str, ident: str) -> RuntimeContainer:
        """Create the state directory (mode 0711) for a new container.

        Raises:
            InvalidArgument: bad id. ContainerExists: the directory exists.
        """
        import os

        validate_id(ident)
        os.makedirs(root, 0o711, exist_ok=True)
        try:
            posix.mkdir(_join(root, ident), 0o711)
        except FileExistsError:
            from dockyard.runtime.failures import ContainerExists

            raise ContainerExists(ident) from None
        return cls(root, ident, {"id": ident})

    @classmethod
    def load(cls, root: str, ident: str) -> RuntimeContainer:
        """Read a container's record.

        Raises:
            InvalidArgument: bad id. NoSuchRuntimeContainer: no such state directory or record
                (or one a crashed ``create`` left half written).
        """
        validate_id(ident)
        directory = _join(root, ident)
        try:
            with open(_join(directory, STATE_FILE), "rb") as f:
                data = marshal.loads(f.read())
        except FileNotFoundError:
            data = _load_legacy(directory)
        except (NotADirectoryError, EOFError, ValueError, TypeError):
            data = None
        if not isinstance(data, dict):
            from dockyard.runtime.failures import NoSuchRuntimeContainer

            raise NoSuchRuntimeContainer(ident)
        return cls(root, ident, data)

    @staticmethod
    def list_ids(root: str) -> list[str]:
        """Every id with a record under ``root``, sorted."""
        try:
            names = posix.listdir(root)
        except FileNotFoundError:
            return []
        records = (STATE_FILE, _LEGACY_STATE_FILE)
        return sorted(n for n in names if any(_exists(_join(_join(root, n), f)) for f in records))

    def save(self) -> None:
        """Replace the record atomically (the root is a tmpfs, so no fsync)."""
        from dockyard.util import atomicfile

        path = _join(self.dir, STATE_FILE)
        atomicfile.write_atomic(path, marshal.dumps(self.record), mode=0o600, durable=False)

    def lock(self) -> _Held:
        """Take the container's exclusive flock, held until the ``with`` block ends.

        ``with container.lock():`` serialises the commands that change a container, as runc's
        lock does; the kernel drops it if the process dies.
        """
        fd = posix.open(self.lock_path(), posix.O_RDONLY | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            posix.close(fd)
            raise
        return _Held(fd)

    def lock_path(self) -> str:
        return _join(self.dir, "lock")

    @property
    def fifo_path(self) -> str:
        return _join(self.dir, FIFO)

    # --- fields -----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        pid = self.record.get("pid", 0)
        return pid if isinstance(pid, int) else 0

    @property
    def bundle(self) -> str:
        return str(self.record.get("bundle", ""))

    def spec_json(self) -> dict[str, object]:
        spec = self.record.get("config")
        return spec if isinstance(spec, dict) else {}

    def cgroup(self) -> Cgroup | None:
        """The container's cgroup, reopened from the record (None if it had none)."""
        data = self.record.get("cgroup")
        if not isinstance(data, dict):
            return None
        from dockyard.runtime.cgroups import Cgroup

        return Cgroup.from_state(data)

    # --- status -----------------------------------------------------------------------------

    def is_alive(self) -> bool:
        """The recorded init still runs (same pid *and* start time, not a zombie)."""
        pid = self.pid
        if pid <= 0:
            return False
        started = process_start_time(pid)
        return started is not None and started == self.record.get("start_time")

    def status(self) -> str:
        """created, running, paused or stopped, derived as runc does."""
        if not self.is_alive():
            return "stopped"
        if _exists(self.fifo_path):
            return "created"
        return "paused" if self.is_frozen() else "running"

    def is_frozen(self) -> bool:
        """Whether the recorded cgroup is frozen, read from its one file (no cgroup machinery)."""
        data = self.record.get("cgroup")
        paths = data.get("paths") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(paths, dict):
            return False
        from dockyard.runtime import cgroups_fs

        return cgroups_fs.is_frozen(str(data.get("mode")), paths)

    def state(self, status: str | None = None) -> State:
        """The runc-shaped state; pid is 0 once stopped."""
        from dockyard.oci.state import State

        status = status or self.status()
        annotations = self.record.get("annotations")
        return State(
            id=self.id,
            status=status,
            pid=self.pid if status != "stopped" else 0,
            bundle=self.bundle,
            oci_version=str(self.record.get("oci_version", "")),
            rootfs=str(self.record.get("rootfs", "")),
            created=str(self.record.get("created", "")),
            owner=str(self.record.get("owner", "")),
            annotations=annotations if isinstance(annotations, dict) else None,
        )

    def remove_dir(self) -> None:
        """Remove the state directory and everything in it."""
        try:
            names = posix.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                posix.unlink(_join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            posix.rmdir(self.dir)
        except FileNotFoundError:
            pass


def _load_legacy(directory: str) -> object:
    """The JSON record of an earlier version, or None."""
    from dockyard.util import jsoncodec

    try:
        with open(_join(directory, _LEGACY_STATE_FILE), "rb") as f:
            return jsoncodec.loads(f.read())
    except (OSError, jsoncodec.JSONDecodeError):
        return None
