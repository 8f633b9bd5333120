"""ContainerStore: container records, their names and exec sessions, in the state database.

**Durability first, then memory.** Every change is one SQLite transaction (``util.db``); only
after it commits does the in-memory index change. The index (records by ID, IDs by name) is what
every read uses, so a list is one consistent snapshot of immutable records, costs no query and
never waits on a container's lock; the database is what a restarted daemon reads back.

**Names.** A name is reserved by the same INSERT that stores the record (``name`` is UNIQUE), so a
daemon killed between the two cannot leave a name without a container or the reverse.

**Lookups** follow dockerd (``daemon/container/view.go``): a full ID wins, then a name (with or
without its leading ``/``), then a unique ID prefix; an ambiguous prefix is an error with Docker's
words, never a guess.

**Notes** are the engine's private bookkeeping for a container (was it stopped by hand, has it
ever started, is it half-created, where is its task's monitor). They live in the same row but
outside the ``Container`` record, which is exactly what the API shows.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass

from dockyard.engine import records
from dockyard.engine.container import Container
from dockyard.engine.execs import ExecSession
from dockyard.errors import InvalidArgument, NameInUse, NoSuchContainer, NoSuchExec
from dockyard.util import ids, jsoncodec
from dockyard.util.db import Database

__all__ = ["ContainerNotes", "ContainerStore"]

MIGRATIONS = [
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        notes TEXT NOT NULL
    );
    CREATE TABLE exec_sessions (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
        record TEXT NOT NULL
    );
    CREATE INDEX exec_sessions_container ON exec_sessions (container_id);
    """,
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerNotes:
    """What the engine remembers about a container beyond what Docker shows.

    ``creating``: the record exists but create's side effects (rootfs, files) are not all done;
    a daemon that finds this at start removes the container. ``manually_stopped`` and
    ``started_before`` drive restart policies (moby's ``HasBeenManuallyStopped`` and
    ``HasBeenStartedBefore``). ``task_id`` names the live task's monitor directory; ``netns`` is
    the bind-mounted network namespace file, if any.
    """

    creating: bool = False
    manually_stopped: bool = False
    started_before: bool = False
    task_id: str = ""
    netns: str = ""


class ContainerStore:
    """Container records and exec sessions: durable in SQLite, indexed in memory."""

    def __init__(self, db: Database) -> None:
        """Load every record from ``db`` (migrating its tables first).

        Raises:
            CorruptRecord: the tables are newer than this dockyard, or a record cannot be read.
        """
        db.migrate("engine.containers", MIGRATIONS)
        self._db = db
        self._by_id: dict[str, Container] = {}
        self._notes: dict[str, ContainerNotes] = {}
        self._by_name: dict[str, str] = {}
        for row in db.query("SELECT record, notes FROM containers"):
            container = records.decode(Container, jsoncodec.loads(row["record"]))
            self._index(container, records.decode(ContainerNotes, jsoncodec.loads(row["notes"])))

    def _index(self, container: Container, notes: ContainerNotes) -> None:
        old = self._by_id.get(container.id)
        if old is not None and self._by_name.get(old.name) == old.id:
            del self._by_name[old.name]
        self._by_id[container.id] = container
        self._notes[container.id] = notes
        self._by_name[container.name] = container.id

    # --- reads (memory only) -------------------------------------------------------------------
    def all(self) -> list[Container]:
        """Every record, as one snapshot (the list is a copy; the records are immutable)."""
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        """Every container ID."""
        return list(self._by_id)

    def find(self, container_id: str) -> Container | None:
        """The record with exactly this ID, if any."""
        return self._by_id.get(container_id)

    def notes(self, container_id: str) -> ContainerNotes:
        """The engine's notes on a container.

        Raises:
            NoSuchContainer: no container has this ID.
        """
        try:
            return self._notes[container_id]
        except KeyError:
            raise NoSuchContainer(container_id) from None

    def name_holder(self, name: str) -> str | None:
        """The ID of the container called ``name`` (no leading slash), if any."""
        return self._by_name.get(name)

    def resolve(self, ref: str) -> str:
        """The ID ``ref`` names: full ID, then name (with or without "/"), then unique ID prefix.

        Raises:
            NoSuchContainer: nothing matches (or ``ref`` is empty).
            InvalidArgument: an ambiguous prefix, with Docker's message.
        """
        if not ref:
            raise NoSuchContainer(ref)
        if ref in self._by_id:
            return ref
        holder = self._by_name.get(ref[1:] if ref.startswith("/") else ref)
        if holder is not None:
            return holder
        try:
            found = ids.match_prefix(ref, self._by_id)
        except ids.AmbiguousPrefix:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}") from None
        if found is None:
            raise NoSuchContainer(ref)
        return found

    def get(self, ref: str) -> Container:
        """The record ``ref`` names (see ``resolve``).

        Raises:
            NoSuchContainer, InvalidArgument: as ``resolve``.
        """
        return self._by_id[self.resolve(ref)]

    # --- writes (database first, then memory) --------------------------------------------------
    def add(self, container: Container, notes: ContainerNotes) -> None:
        """Store a new record, reserving its name in the same transaction.

        Raises:
            NameInUse: another container has this name (Docker's message names its ID).
        """
        holder = self._by_name.get(container.name)
        if holder is not None:
            raise NameInUse(container.name, holder)
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO containers (id, name, record, notes) VALUES (?, ?, ?, ?)",
                    (container.id, container.name, _dump(container), _dump(notes)),
                )
        except sqlite3.IntegrityError as exc:
            row = self._db.query_one("SELECT id FROM containers WHERE name = ?", (container.name,))
            if row is not None:
                raise NameInUse(container.name, row["id"]) from exc
            raise
        self._index(container, notes)

    def update(self, container: Container, notes: ContainerNotes | None = None) -> Container:
        """Replace a record (and optionally its notes); the name must not change here.

        Raises:
            NoSuchContainer: the container was removed meanwhile.
        """
        old = self._by_id.get(container.id)
        if old is None:
            raise NoSuchContainer(container.id)
        if old.name != container.name:
            raise ValueError("use rename() to change a container's name")
        notes = notes if notes is not None else self._notes[container.id]
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE containers SET record = ?, notes = ? WHERE id = ?",
                (_dump(container), _dump(notes), container.id),
            )
        self._index(container, notes)
        return container

    def set_notes(self, container_id: str, notes: ContainerNotes) -> None:
        """Replace only the notes of a container.

        Raises:
            NoSuchContainer: no container has this ID.
        """
        self.update(self._require(container_id), notes)

    def rename(self, container: Container, new_name: str) -> Container:
        """Give ``container`` the (validated) ``new_name``, atomically.

        Raises:
            NameInUse: another container has ``new_name``.
            NoSuchContainer: the container was removed meanwhile.
        """
        holder = self._by_name.get(new_name)
        if holder is not None and holder != container.id:
            raise NameInUse(new_name, holder)
        old = self._require(container.id)
        renamed = _replace_name(container, new_name)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE containers SET name = ?, record = ? WHERE id = ?",
                (new_name, _dump(renamed), container.id),
            )
        if self._by_name.get(old.name) == old.id:
            del self._by_name[old.name]
        self._index(renamed, self._notes[container.id])
        return renamed

    def remove(self, container_id: str) -> None:
        """Delete a record, its name and its exec sessions (absent records are ignored)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM containers WHERE id = ?", (container_id,))
        old = self._by_id.pop(container_id, None)
        self._notes.pop(container_id, None)
        if old is not None and self._by_name.get(old.name) == container_id:
            del self._by_name[old.name]

    def _require(self, container_id: str) -> Container:
        try:
            return self._by_id[container_id]
        except KeyError:
            raise NoSuchContainer(container_id) from None

    # --- exec sessions ---------------------------------------------------------------------------
    def put_exec(self, session: ExecSession) -> None:
        """Insert or replace an exec session (its container must exist)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO exec_sessions (id, container_id, record) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                (session.id, session.container_id, _dump(session)),
            )

    def get_exec(self, exec_id: str) -> ExecSession:
        """An exec session by its full ID.

        Raises:
            NoSuchExec: no session has this ID.
        """
        row = self._db.query_one("SELECT record FROM exec_sessions WHERE id = ?", (exec_id,))
        if row is None:
            raise NoSuchExec(exec_id)
        return records.decode(ExecSession, jsoncodec.loads(row["record"]))

    def execs_of(self, container_id: str) -> list[ExecSession]:
        """The exec sessions of a container."""
        rows = self._db.query("SELECT record FROM exec_sessions WHERE container_id = ?", (container_id,))
        return [records.decode(ExecSession, jsoncodec.loads(r["record"])) for r in rows]

    def running_execs(self) -> list[ExecSession]:
        """Every exec session recorded as running (recovery watches them again)."""
        rows = self._db.query("SELECT record FROM exec_sessions")
        sessions = [records.decode(ExecSession, jsoncodec.loads(r["record"])) for r in rows]
        return [s for s in sessions if s.running]

    def running_exec_prefixes(self) -> set[str]:
        """The monitor-directory names (first 16 hex digits) of running exec sessions."""
        return {s.id[:16] for s in self.running_execs()}

    def drop_execs(self, exec_ids: list[str]) -> None:
        """Forget exec sessions (finished ones, when their container starts again)."""
        with self._db.transaction() as conn:
            conn.executemany("DELETE FROM exec_sessions WHERE id = ?", [(i,) for i in exec_ids])


def _dump(record: object) -> str:
    return jsoncodec.dumps(records.encode(record))


def _replace_name(container: Container, name: str) -> Container:
    return dataclasses.replace(container, name=name)
