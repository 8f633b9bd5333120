"""RuntimeContainer: one container's record in the runtime's state directory.

Layout (runc's, under ``--root``, default ``/run/dockyard-runtime``)::

    <root>/<id>/state.json   the record, replaced atomically (tmpfs: no fsync needed)
    <root>/<id>/exec.fifo    exists from ``create`` until ``start``: the helper blocks on it
    <root>/<id>/lock         flock held by every command for the duration of its work

Status is derived, never trusted from the file, exactly as runc does it: the recorded init pid
must be alive *and* have the start time (field 22 of ``/proc/<pid>/stat``) recorded at create,
so a recycled pid is not mistaken for the container; a zombie counts as stopped. A live init
with the fifo still present is ``created``; a frozen cgroup is ``paused``; else ``running``.
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci.state import State
from dockyard.util import atomicfile, jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cgroups import Cgroup

__all__ = ["DEFAULT_ROOT", "ContainerExists", "NoSuchRuntimeContainer", "RuntimeContainer", "validate_id"]

DEFAULT_ROOT = "/run/dockyard-runtime"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class NoSuchRuntimeContainer(NotFound):
    """No container with this id under the state root."""

    def __init__(self, ident: str) -> None:
        super().__init__(f'container "{ident}" does not exist')


class ContainerExists(Conflict):
    """``create`` with an id that is taken."""

    def __init__(self, ident: str) -> None:
        super().__init__(f"container with id exists: {ident}")


def validate_id(ident: str) -> None:
    """runc's id rule: ``[A-Za-z0-9_+.-]+``, not ``.`` or ``..`` (it becomes a directory name).

    Raises:
        InvalidArgument: the id is empty or has other characters.
    """
    if not ident or ident in (".", "..") or not _ID_CHARS.issuperset(ident):
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


class RuntimeContainer:
    """A container's persisted record and the operations on its state directory."""

    def __init__(self, root: str, ident: str, record: dict[str, object]) -> None:
        self.root = root
        self.id = ident
        self.dir = os.path.join(root, ident)
        self.record = record

    # --- creation and loading -------------------------------------------------------------

    @classmethod
    def reserve(cls, root: str, ident: str) -> RuntimeContainer:
        """Create the state directory (mode 0711) for a new container.

        Raises:
            InvalidArgument: bad id. ContainerExists: the directory exists.
        """
        validate_id(ident)
        os.makedirs(root, 0o711, exist_ok=True)
        try:
            os.mkdir(os.path.join(root, ident), 0o711)
        except FileExistsError:
            raise ContainerExists(ident) from None
        return cls(root, ident, {"id": ident})

    @classmethod
    def load(cls, root: str, ident: str) -> RuntimeContainer:
        """Read a container's record.

        Raises:
            InvalidArgument: bad id. NoSuchRuntimeContainer: no such state directory or record.
        """
        validate_id(ident)
        try:
            with open(os.path.join(root, ident, STATE_FILE), "rb") as f:
                data = jsoncodec.loads(f.read())
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchRuntimeContainer(ident) from None
        except jsoncodec.JSONDecodeError:
            raise NoSuchRuntimeContainer(ident) from None  # half-created by a crashed create
        if not isinstance(data, dict):
            raise NoSuchRuntimeContainer(ident)
        return cls(root, ident, data)

    @staticmethod
    def list_ids(root: str) -> list[str]:
        """Every id with a state directory under ``root``, sorted."""
        try:
            return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, STATE_FILE)))
        except FileNotFoundError:
            return []

    def save(self) -> None:
        """Replace ``state.json`` atomically (the root is a tmpfs, so no fsync)."""
        atomicfile.write_atomic(
            os.path.join(self.dir, STATE_FILE), jsoncodec.dumps(self.record), mode=0o600, durable=False
        )

    def lock_path(self) -> str:
        return os.path.join(self.dir, "lock")

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.dir, FIFO)

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
        if os.path.exists(self.fifo_path):
            return "created"
        cgroup = self.cgroup()
        if cgroup is not None:
            try:
                if cgroup.is_frozen():
                    return "paused"
            except OSError:
                pass
        return "running"

    def state(self, status: str | None = None) -> State:
        """The runc-shaped state; pid is 0 once stopped."""
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
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
