"""The overlay snapshotter: unpacked layers by chain ID, and containers' init and writable layers.

Every snapshot is a directory ``<snapshots_root>/<n>/fs`` (plus ``work/`` for a writable one),
where ``n`` is a small integer from the state database, so that overlay option strings stay
short (see ``mount.py`` for what happens when 120 layers still do not fit in a page). A record
in ``image_snapshots`` says what the directory is.

- **Layers** are keyed by chain ID (``ChainID(L1) = DiffID(L1)``, ``ChainID(Ln) =
  sha256(ChainID(Ln-1) + " " + DiffID(Ln))``): the same diff on the same parents is unpacked
  once and shared by every image that has it. A layer is unpacked into a fresh directory whose
  record is ``preparing``; only when the whole tar has been applied and its diff ID checked does
  ``commit`` give the record its chain ID. A record that is still ``preparing`` is never
  trusted: start-up (:meth:`Snapshotter.recover`) and GC delete it with its directory.
- **A container** gets two snapshots: ``init:<id>`` (Docker's init layer, on top of the image's
  layers) and ``rw:<id>`` (the writable upper and work directories). Its root filesystem is the
  overlay ``lowerdir=init:top:...:base, upperdir=rw/fs, workdir=rw/work``.

Removal deletes the record first and the directory second, so a crash in between leaves an
orphan directory (removed by :meth:`Snapshotter.recover`), never a record without its data.
Nothing here counts references: a layer is in use while an image's top layer or a container's
init layer has it in its parent chain, which GC computes from the records.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import Conflict, NotFound, SystemFailure
from dockyard.image import schema
from dockyard.image.archive import tree_size
from dockyard.image.initlayer import populate_init_layer
from dockyard.image.mount import Mount
from dockyard.util import libc
from dockyard.util.db import Database, Row

__all__ = ["LayerPreparation", "Snapshot", "Snapshotter", "chain_ids"]

log = logging.getLogger(__name__)

LAYER = "layer"
INIT = "init"
ACTIVE = "active"
PREPARING = "preparing"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain ID of each layer prefix (OCI image-spec "ChainID"), as ``sha256:<hex>`` strings."""
    import hashlib

    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One snapshot record."""

    id: int
    key: str
    kind: str
    parent: str | None
    diff_id: str | None
    size: int
    created: float
    blob: str | None = None
    media_type: str | None = None


def _snapshot(row: Row) -> Snapshot:
    return Snapshot(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        parent=row["parent"],
        diff_id=row["diff_id"],
        size=row["size"],
        created=row["created"],
        blob=row["blob"],
        media_type=row["media_type"],
    )


class LayerPreparation:
    """A layer being unpacked: ``root_fd`` is its (empty, private) directory."""

    def __init__(self, owner: Snapshotter, snapshot: Snapshot, chain_id: str, root_fd: int) -> None:
        self._owner = owner
        self.snapshot = snapshot
        self.chain_id = chain_id
        self.root_fd = root_fd
        self.committed: Snapshot | None = None

    @property
    def directory(self) -> Path:
        """The layer's content directory while it is being prepared."""
        return self._owner.fs(self.snapshot)

    def close(self) -> None:
        """Release the directory fd; without a commit, delete the record and the directory."""
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1
        if self.committed is None or self.committed.id != self.snapshot.id:
            self._owner.discard(self.snapshot)

    def commit(
        self,
        diff_id: str,
        size: int,
        *,
        blob: str | None,
        media_type: str | None,
        chain_id: str | None = None,
    ) -> Snapshot:
        """Make the layer visible under its chain ID. Blocking (syncfs): call from a worker thread.

        ``blob``/``media_type`` name the content-store blob it was unpacked from. If another
        preparation committed the same chain ID first, this one is discarded and the existing
        layer returned. ``chain_id`` replaces the one given to ``prepare_layer`` (for a layer
        whose diff ID, and so chain ID, is known only once it is unpacked).
        """
        if chain_id is not None:
            self.chain_id = chain_id
        self.committed = self._owner._commit(self, diff_id, size, blob, media_type)
        return self.committed


class Snapshotter:
    """Snapshot directories under ``root`` with their records in ``db``."""

    def __init__(self, root: Path, db: Database, *, sync: bool = False) -> None:
        """``sync`` flushes a layer's filesystem (``syncfs``) before its record is committed,
        so a power loss cannot leave a committed layer with missing data."""
        self._root = root
        self._db = db
        self._sync = sync
        schema.migrate(db)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- lookup ----------------------------------------------------------------------------
    def get(self, key: str) -> Snapshot | None:
        """The snapshot with ``key`` (a chain ID, ``init:<id>``, ``rw:<id>``), if any."""
        row = self._db.query_one("SELECT * FROM image_snapshots WHERE key = ?", (key,))
        return _snapshot(row) if row is not None else None

    def has_layer(self, chain_id: str) -> bool:
        """True when the layer with this chain ID is committed."""
        snap = self.get(chain_id)
        return snap is not None and snap.kind == LAYER

    def layers(self) -> list[Snapshot]:
        """Every committed layer."""
        rows = self._db.query("SELECT * FROM image_snapshots WHERE kind = ? ORDER BY id", (LAYER,))
        return [_snapshot(r) for r in rows]

    def all(self) -> list[Snapshot]:
        """Every record, of every kind."""
        return [_snapshot(r) for r in self._db.query("SELECT * FROM image_snapshots ORDER BY id")]

    def chain(self, key: str) -> list[Snapshot]:
        """The snapshot ``key`` and every snapshot below it, top first.

        Raises:
            NotFound: ``key`` or one of its parents has no record (a broken chain).
        """
        result: list[Snapshot] = []
        current: str | None = key
        while current is not None:
            snap = self.get(current)
            if snap is None:
                raise NotFound(f"snapshot {current} does not exist")
            result.append(snap)
            current = snap.parent
            if len(result) > 10_000:
                raise SystemFailure(f"snapshot chain of {key} loops")
        return result

    def directory(self, snap: Snapshot) -> Path:
        """The snapshot's directory (holding ``fs`` and, for writable ones, ``work``)."""
        return self._root / str(snap.id)

    def fs(self, snap: Snapshot) -> Path:
        """The snapshot's content directory."""
        return self._root / str(snap.id) / "fs"

    # --- layers ----------------------------------------------------------------------------
    @contextmanager
    def prepare_layer(self, chain_id: str, parent: str | None) -> Iterator[LayerPreparation]:
        """A fresh directory to unpack the layer ``chain_id`` into; commit it before leaving.

        Leaving without ``commit`` (or with an exception) deletes the record and the directory.
        ``parent`` must be a committed layer by the time of ``commit``.
        """
        prep = self.begin_layer(chain_id, parent)
        try:
            yield prep
        finally:
            prep.close()

    def begin_layer(self, chain_id: str, parent: str | None) -> LayerPreparation:
        """Like ``prepare_layer``, for callers that commit later from elsewhere (the pull, which
        unpacks layers side by side and commits them in order): call ``close`` in every case."""
        snap = self._insert(f"prepare:{chain_id}:{os.urandom(6).hex()}", PREPARING, parent)
        fs = self.fs(snap)
        try:
            fs.mkdir(parents=True, mode=0o755)
            os.chmod(fs, 0o755)
            fd = os.open(fs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except BaseException:
            self._delete(snap)
            raise
        return LayerPreparation(self, snap, chain_id, fd)

    def _commit(
        self, prep: LayerPreparation, diff_id: str, size: int, blob: str | None, media_type: str | None
    ) -> Snapshot:
        if self._sync:
            try:
                libc.syncfs(prep.root_fd)
            except OSError as exc:
                raise SystemFailure(f"syncfs {self.fs(prep.snapshot)}: {exc.strerror}") from exc
        parent = prep.snapshot.parent
        with self._db.transaction() as conn:
            row = conn.execute("SELECT * FROM image_snapshots WHERE key = ?", (prep.chain_id,)).fetchone()
            if row is not None:
                return _snapshot(row)  # committed meanwhile by someone else; ours is dropped
            if parent is not None:
                above = conn.execute("SELECT kind FROM image_snapshots WHERE key = ?", (parent,)).fetchone()
                if above is None or above["kind"] != LAYER:
                    raise NotFound(f"parent layer {parent} of {prep.chain_id} does not exist")
            conn.execute(
                "UPDATE image_snapshots SET key = ?, kind = ?, diff_id = ?, size = ?, blob = ?, "
                "media_type = ? WHERE id = ?",
                (prep.chain_id, LAYER, diff_id, size, blob, media_type, prep.snapshot.id),
            )
        snap = self.get(prep.chain_id)
        assert snap is not None
        return snap

    def children(self, key: str) -> list[Snapshot]:
        """Snapshots whose parent is ``key``."""
        rows = self._db.query("SELECT * FROM image_snapshots WHERE parent = ?", (key,))
        return [_snapshot(r) for r in rows]

    def remove_layer(self, chain_id: str) -> bool:
        """Remove a committed layer; False if there was none.

        Raises:
            Conflict: another snapshot (a layer above it, a container) still has it as parent.
        """
        snap = self.get(chain_id)
        if snap is None or snap.kind != LAYER:
            return False
        if self.children(chain_id):
            raise Conflict(f"layer {chain_id} is in use by other snapshots")
        self._delete(snap)
        return True

    # --- containers ------------------------------------------------------------------------
    def create_container(self, container_id: str, parent: str | None) -> None:
        """Create the init layer and the writable layer of a container on top of layer ``parent``.

        Creating them again replaces them (an interrupted create is retried from scratch).

        Raises:
            NotFound: ``parent`` is not a committed layer.
        """
        if parent is not None and not self.has_layer(parent):
            raise NotFound(f"layer {parent} does not exist")
        self.remove_container(container_id)
        init = self._insert(f"init:{container_id}", INIT, parent)
        try:
            self.fs(init).mkdir(parents=True, mode=0o755)
            fd = os.open(self.fs(init), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fchmod(fd, 0o755)
                populate_init_layer(fd)
            finally:
                os.close(fd)
            rw = self._insert(f"rw:{container_id}", ACTIVE, init.key)
            for name in ("fs", "work"):
                (self.directory(rw) / name).mkdir(parents=True, mode=0o755)
            os.chmod(self.fs(rw), 0o755)
        except BaseException:
            self.remove_container(container_id)
            raise

    def container_mounts(self, container_id: str) -> list[Mount]:
        """The overlay that is the container's root filesystem.

        Raises:
            NotFound: the container has no layers here.
        """
        rw = self.get(f"rw:{container_id}")
        if rw is None or rw.parent is None:
            raise NotFound(f"no root filesystem for container {container_id}")
        lowers = [str(self.fs(s)) for s in self.chain(rw.parent)]
        options = (
            "index=off",
            f"lowerdir={':'.join(lowers)}",
            f"upperdir={self.fs(rw)}",
            f"workdir={self.directory(rw) / 'work'}",
        )
        return [Mount(type="overlay", source="overlay", options=options)]

    def container_upper(self, container_id: str) -> Path | None:
        """The container's writable directory, if it has one."""
        rw = self.get(f"rw:{container_id}")
        return self.fs(rw) if rw is not None else None

    def remove_container(self, container_id: str) -> None:
        """Remove a container's writable and init layers (absent ones are skipped)."""
        for key in (f"rw:{container_id}", f"init:{container_id}"):
            snap = self.get(key)
            if snap is not None:
                self._delete(snap)

    # --- housekeeping ----------------------------------------------------------------------
    def usage(self, snap: Snapshot) -> int:
        """Bytes used by the snapshot's files (moby's ``directory.Size``: non-directories, each
        inode once)."""
        return directory_size(self.fs(snap))

    def recover(self) -> list[str]:
        """Delete what an interrupted operation left: ``preparing`` records and their directories,
        and directories that no record names. Returns a line per removal.

        Only call it when no other operation on this snapshotter is in progress (start-up, GC).
        """
        removed: list[str] = []
        for row in self._db.query("SELECT * FROM image_snapshots WHERE kind = ?", (PREPARING,)):
            snap = _snapshot(row)
            self._delete(snap)
            removed.append(f"snapshot {snap.id}: unfinished {snap.key}")
        known = {str(row["id"]) for row in self._db.query("SELECT id FROM image_snapshots")}
        for entry in sorted(self._root.iterdir()):
            if entry.name not in known:
                _remove_tree(entry)
                removed.append(f"snapshot directory {entry.name}: no record")
        return removed

    def discard(self, snap: Snapshot) -> None:
        """Delete any snapshot, record first, then directory (GC and recovery)."""
        self._delete(snap)

    # --- records ---------------------------------------------------------------------------
    def _insert(self, key: str, kind: str, parent: str | None) -> Snapshot:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO image_snapshots (key, kind, parent, created) VALUES (?, ?, ?, ?)",
                (key, kind, parent, time.time()),
            )
            new_id = cursor.lastrowid
        snap = self.get(key)
        assert snap is not None
        assert snap.id == new_id
        _remove_tree(self.directory(snap))  # a stale directory from a lost record
        return snap

    def _delete(self, snap: Snapshot) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM image_snapshots WHERE id = ?", (snap.id,))
        _remove_tree(self.directory(snap))


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass


def directory_size(root: Path) -> int:
    """Sum of ``st_size`` of every non-directory under ``root``, counting each inode once
    (``archive.tree_size``: moby's ``directory.Size``); 0 if ``root`` is gone."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        return tree_size(fd)
    finally:
        os.close(fd)
