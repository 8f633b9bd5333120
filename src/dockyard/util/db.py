"""The state database: one SQLite file in WAL mode under the data root.

Every state record (containers and names, images and tags, networks and IPAM, volumes, exec
sessions, the events journal) lives here, so a change that touches several records is one
transaction, and a killed daemon finds either all of a change or none of it.

Each room owns its tables and registers its own forward-only migrations under its room name;
``schema_versions`` remembers how far each room has migrated. A database written by a newer
dockyard (a version this code does not know) is refused rather than misread.

Durability: ``synchronous=NORMAL`` in WAL mode survives any process crash (a kill -9 of the
daemon loses nothing committed); a power loss may roll back the last transactions but never
corrupts. Queries are short and local, so the daemon calls them on its event loop; a lock makes
the connection safe for the worker threads that also record state.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dockyard.errors import CorruptRecord

__all__ = ["Database", "Row"]

Row = sqlite3.Row


class Database:
    """A connection to the state database, safe to share between the loop and worker threads."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the database at ``path``.

        Raises:
            CorruptRecord: the file exists but is not a usable SQLite database.
        """
        self.path = path
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (room TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise CorruptRecord(f"state database {path}: {exc}") from exc

    def migrate(self, room: str, migrations: Sequence[str]) -> None:
        """Bring ``room``'s tables up to ``len(migrations)``, applying the missing steps in order.

        Each migration is a SQL script; all missing steps run in one transaction.

        Raises:
            CorruptRecord: the database is newer than ``migrations`` (written by a newer dockyard).
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT version FROM schema_versions WHERE room = ?", (room,)).fetchone()
            current = row[0] if row else 0
            if current > len(migrations):
                raise CorruptRecord(
                    f"state database {self.path}: schema of {room} is version {current}, "
                    f"newer than this dockyard knows ({len(migrations)})"
                )
            for step in migrations[current:]:
                for statement in _split_script(step):
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_versions (room, version) VALUES (?, ?) "
                "ON CONFLICT(room) DO UPDATE SET version = excluded.version",
                (room, len(migrations)),
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same consistent state."""
        with self._lock:
            self._conn.execute("BEGIN DEFERRED")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one read statement and return every row."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run one read statement and return its first row, if any."""
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the number of rows changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()


def _split_script(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
