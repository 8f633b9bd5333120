"""The content store: blobs addressed by their digest, and ingests that become blobs.

A blob is trusted because of where it is: ``Paths.blob(alg, hex)`` holds only bytes that hashed
to ``alg:hex``. Nothing is written there directly. An :class:`Ingest` writes under
``Paths.ingest_root`` while hashing and counting the bytes as they arrive, so a blob that grows
past its declared size is refused at the first extra byte, not after it has filled the disk.
``commit`` then checks size and digest, ``fsync``\\ s the file, renames it into place and
``fsync``\\ s the directory: containerd's ``writer.Commit`` sequence. A process killed at any point
leaves either nothing or a file under ``ingest/``, which a later ingest of the same digest
resumes (after re-hashing what is there) or discards, and which GC removes after a grace period.

An ingest is also a pipe: the pull unpacks a layer while it downloads by reading the ingest's
file as it grows (:meth:`Ingest.reader`), so the compressed bytes are written once and read once,
and the reader sees only bytes that were already hashed and counted.

Locking: each ingest holds an exclusive ``flock`` on its data file, so two processes never feed
the same ingest; inside the daemon the pull serialises per digest before it gets here.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.config import Paths
from dockyard.errors import InvalidArgument, NotFound, SystemFailure, Unavailable
from dockyard.oci.digest import Digest, DigestMismatch
from dockyard.util.atomicfile import fsync_dir

__all__ = ["BlobNotFound", "ContentStore", "Ingest", "IngestReader"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class BlobNotFound(NotFound):
    """The content store has no blob with this digest."""

    def __init__(self, digest: Digest) -> None:
        super().__init__(f"content digest {digest}: not found")
        self.digest = digest


class ContentStore:
    """Blobs by digest under ``Paths.content_root``; see the module essay for the guarantees."""

    def __init__(self, paths: Paths) -> None:
        self._paths = paths
        for directory in (paths.content_root, paths.ingest_root, paths.blob_dir("sha256")):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- reading ---------------------------------------------------------------------------
    def path(self, digest: Digest) -> Path:
        """Where the blob lives (it may not exist)."""
        return self._paths.blob(digest.algorithm, digest.hex)

    def exists(self, digest: Digest) -> bool:
        """True when the blob is committed."""
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes.

        Raises:
            BlobNotFound: no such blob.
        """
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def open(self, digest: Digest) -> BinaryIO:
        """An open binary file of the blob, for streaming.

        Raises:
            BlobNotFound: no such blob.
        """
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def read(self, digest: Digest, *, limit: int) -> bytes:
        """The whole blob, refused if it is larger than ``limit`` (manifests, configs).

        Raises:
            BlobNotFound: no such blob.
            SystemFailure: the blob is larger than ``limit``.
        """
        with self.open(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise SystemFailure(f"content digest {digest}: larger than {limit} bytes")
        return data

    def digests(self) -> Iterator[Digest]:
        """Every committed blob, in no particular order. File names that are not digests are skipped."""
        root = self._paths.blobs_root
        for algorithm_dir in sorted(root.iterdir()) if root.is_dir() else []:
            for entry in os.scandir(algorithm_dir):
                try:
                    digest = Digest(algorithm_dir.name, entry.name)
                except InvalidArgument:
                    continue  # not a digest-named file: never ours, never trusted
                yield digest

    # --- writing ---------------------------------------------------------------------------
    def ingest(
        self, expected: Digest | None = None, size: int | None = None, *, limit: int | None = None
    ) -> Ingest:
        """Start (or resume) writing a blob.

        With ``expected`` the ingest lives at a name derived from the digest, so a later ingest
        of the same digest resumes it. Without it (``load``, ``import``: the digest is known only
        at the end) the ingest gets a fresh name and ``commit`` stores it under what it hashed
        to. ``limit`` bounds the bytes accepted when ``size`` is unknown.

        Raises:
            Unavailable: another process is writing the same ingest.
        """
        if expected is not None:
            name = f"{expected.algorithm}-{expected.hex}"
        else:
            name = f"tmp-{os.urandom(12).hex()}"
        return Ingest(self, self._paths.ingest_root / name, expected, size, limit)

    def add(self, data: bytes, expected: Digest | None = None) -> Digest:
        """Store ``data`` in one step; returns its digest.

        Raises:
            DigestMismatch: ``expected`` was given and ``data`` does not hash to it.
        """
        digest = expected or Digest.from_bytes(data)
        if self.exists(digest):
            if expected is not None and Digest.from_bytes(data) != expected:
                raise DigestMismatch(expected, Digest.from_bytes(data))
            return digest
        with self.ingest(digest, len(data)) as ingest:
            ingest.write(data)
            ingest.commit()
        return digest

    def delete(self, digest: Digest) -> bool:
        """Remove a blob; False if it was not there. The caller has checked nothing refers to it."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    # --- checking --------------------------------------------------------------------------
    def verify(self, *, remove: bool = False) -> list[str]:
        """fsck: re-hash every blob and report (and with ``remove``, delete) those that lie.

        Returns one line per problem, e.g. ``blob sha256:ab…: content hashes to sha256:cd…``.
        """
        problems: list[str] = []
        for digest in list(self.digests()):
            actual = self._hash_file(self.path(digest), digest.algorithm)
            if actual is None or actual == digest.hex:
                continue
            problems.append(f"blob {digest}: content hashes to {digest.algorithm}:{actual}")
            if remove:
                self.delete(digest)
        return problems

    def stale_ingests(self, older_than: float) -> list[Path]:
        """Ingest directories not touched for ``older_than`` seconds and not locked by a writer."""
        stale: list[Path] = []
        now = time.time()
        root = self._paths.ingest_root
        for entry in sorted(root.iterdir()) if root.is_dir() else []:
            try:
                if now - entry.stat().st_mtime < older_than:
                    continue
            except FileNotFoundError:
                continue
            if not _is_locked(entry / "data"):
                stale.append(entry)
        return stale

    def remove_ingest(self, directory: Path) -> None:
        """Delete one ingest directory (GC and aborted writes)."""
        shutil.rmtree(directory, ignore_errors=True)

    @staticmethod
    def _hash_file(path: Path, algorithm: str, limit: int | None = None) -> str | None:
        try:
            with path.open("rb") as f:
                h = hashlib.new(algorithm)
                left = limit
                while left is None or left > 0:
                    chunk = f.read(_CHUNK if left is None else min(_CHUNK, left))
                    if not chunk:
                        break
                    h.update(chunk)
                    if left is not None:
                        left -= len(chunk)
                return h.hexdigest()
        except FileNotFoundError:
            return None


def _is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Ingest:
    """One blob being written. Use as a context manager: leaving it without ``commit`` keeps the
    partial data for a later resume, unless the bytes were proven wrong (then they are removed).

    Thread-safety: ``write``/``commit``/``fail`` are called by one writer; any number of
    :class:`IngestReader` objects may read concurrently from other threads.
    """

    def __init__(
        self,
        store: ContentStore,
        directory: Path,
        expected: Digest | None,
        size: int | None,
        limit: int | None,
    ) -> None:
        self._store = store
        self.directory = directory
        self.expected = expected
        self.size = size
        self._limit = limit
        self._cond = threading.Condition()
        self._written = 0
        self._state = "open"  # open -> committed | failed | closed
        self._error: BaseException | None = None
        self._committed_digest: Digest | None = None
        directory.mkdir(mode=0o700, exist_ok=True)
        self._data = directory / "data"
        self._fd = os.open(self._data, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise Unavailable(
                f"content ingest {directory.name} is being written by another process"
            ) from None
        self._hash = hashlib.new(expected.algorithm if expected else "sha256")
        self._resume()

    def _resume(self) -> None:
        """Re-hash what a previous, interrupted ingest left, or discard it if it cannot fit."""
        existing = os.fstat(self._fd).st_size
        if existing and (self.expected is None or (self.size is not None and existing > self.size)):
            os.ftruncate(self._fd, 0)
            existing = 0
        offset = 0
        while offset < existing:
            chunk = os.pread(self._fd, min(_CHUNK, existing - offset), offset)
            if not chunk:
                break
            self._hash.update(chunk)
            offset += len(chunk)
        self._written = offset
        os.lseek(self._fd, offset, os.SEEK_SET)
        if offset:
            log.info("content ingest resumed name=%s offset=%d", self.directory.name, offset)

    @property
    def committed(self) -> Digest | None:
        """The digest the blob was committed under, once ``commit`` succeeded."""
        return self._committed_digest

    @property
    def offset(self) -> int:
        """Bytes already written (a resumed ingest starts past zero)."""
        return self._written

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``.

        Raises:
            DigestMismatch: more bytes than the declared size (or the limit) arrived.
        """
        if self._state != "open":
            raise SystemFailure(f"content ingest {self.directory.name} is {self._state}")
        total = self._written + len(chunk)
        bound = self.size if self.size is not None else self._limit
        if bound is not None and total > bound:
            err = DigestMismatch(
                self.expected or Digest("sha256", "0" * 64), detail=f"more than the {bound} bytes declared"
            )
            self.fail(err)
            raise err
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        self._hash.update(chunk)
        with self._cond:
            self._written = total
            self._cond.notify_all()

    def digest(self) -> Digest:
        """What the bytes written so far hash to."""
        return Digest(self._hash.name, self._hash.hexdigest())

    def commit(self) -> Digest:
        """Verify size and digest, make the blob durable and move it into place.

        Committing a blob that already exists is not an error (the new copy is dropped).
        Blocking (fsync): call it from a worker thread in the daemon.

        Raises:
            DigestMismatch: the bytes do not match the expected size or digest (the data is discarded).
        """
        actual = self.digest()
        try:
            if self.expected is not None:
                if self.size is not None and self._written != self.size:
                    raise DigestMismatch(self.expected, detail=f"{self._written} bytes, {self.size} declared")
                if actual != self.expected:
                    raise DigestMismatch(self.expected, actual)
            os.fsync(self._fd)
            target = self._store.path(actual)
            if not target.exists():
                os.rename(self._data, target)
                fsync_dir(target.parent)
        except BaseException as exc:
            self.fail(exc)
            raise
        self._committed_digest = actual
        with self._cond:
            self._state = "committed"
            self._cond.notify_all()
        self._release(remove=True)
        return actual

    def fail(self, error: BaseException) -> None:
        """Mark the ingest failed: readers see ``error``; proven-wrong bytes are removed."""
        with self._cond:
            if self._state != "open":
                return
            self._state = "failed"
            self._error = error
            self._cond.notify_all()
        self._release(remove=isinstance(error, DigestMismatch))

    def close(self) -> None:
        """Stop writing without committing; the data stays for a resume."""
        with self._cond:
            if self._state == "open":
                self._state = "failed"
                self._error = SystemFailure(f"content ingest {self.directory.name} closed before commit")
                self._cond.notify_all()
        self._release(remove=False)

    def _release(self, *, remove: bool) -> None:
        if self._fd >= 0:
            if remove:
                shutil.rmtree(self.directory, ignore_errors=True)
            os.close(self._fd)  # releases the flock
            self._fd = -1

    def reader(self) -> IngestReader:
        """A file-like reader of the bytes written so far, waiting for more until commit or failure."""
        return IngestReader(self)

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._state == "open":
            if isinstance(exc, BaseException):
                self.fail(exc)
            else:
                self.close()


class IngestReader:
    """Reads an ingest's data file as it grows (``read`` blocks until bytes or the end arrive).

    It opens its own descriptor, which stays valid after ``commit`` renames the file.
    """

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        self._fd = os.open(ingest.directory / "data", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``-1``: one chunk); ``b""`` at the end of a committed ingest.

        Raises:
            the ingest's error, if it failed before this reader reached the end of its data.
        """
        want = _CHUNK if n is None or n < 0 else n
        ingest = self._ingest
        with ingest._cond:
            while self._pos >= ingest._written and ingest._state == "open":
                ingest._cond.wait()
            available = ingest._written - self._pos
            if available <= 0:
                if ingest._state == "committed":
                    return b""
                raise ingest._error or SystemFailure("content ingest ended")
        chunk = os.pread(self._fd, min(want, available), self._pos)
        if not chunk and want:
            raise SystemFailure(f"content ingest {ingest.directory.name}: data vanished")
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        """Release the descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> IngestReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
