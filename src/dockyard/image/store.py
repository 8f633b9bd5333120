"""Image records: images, tags and repo digests in the state database, and how names find them.

An image's ID is the digest of its config blob (``sha256:…``): the same config is the same
image, wherever it came from. Repository references point at IDs: a *tag*
(``docker.io/library/alpine:latest``) moves when a newer image takes it; a *repo digest*
(``docker.io/library/alpine@sha256:<manifest>``) records which manifest an image was pulled as.
Both are stored fully qualified and shown in Docker's familiar form (``alpine:latest``).

Lookup follows dockerd 20.10's ``GetImage``, in this order:

1. 64 hex digits, or ``sha256:`` and 64 hex digits: exactly that image ID;
2. a reference (``alpine`` means ``docker.io/library/alpine:latest``): its tag or repo digest;
3. an ID prefix, with or without ``sha256:``: the one image whose ID starts with it.

A prefix that matches several images is not an answer; like dockerd, it is reported as
"No such image" (dockerd's ``Search`` error is swallowed by ``GetImage``). The message names
the reference with its default tag, as Docker prints it: ``No such image: alpine:latest``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from dockyard.errors import InvalidArgument, NoSuchImage
from dockyard.image import schema
from dockyard.oci.digest import Digest
from dockyard.registry import Reference
from dockyard.util import ids, jsoncodec
from dockyard.util.db import Database, Row

__all__ = ["Image", "ImageRecord", "ImageStore", "parse_created"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """An image as the engine sees it: identity, names, and what listing needs without the config.

    ``repo_tags`` and ``repo_digests`` are in Docker's familiar form (``alpine:latest``,
    ``alpine@sha256:…``); ``created`` is the config's RFC 3339 time ("" when it has none) and
    ``created_at`` the same as seconds since the epoch (0 when unknown).
    """

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ""
    created_at: float = 0.0
    size: int = 0
    manifest_digest: str | None = None
    parent: str = ""
    os: str = ""
    architecture: str = ""
    variant: str = ""
    top_layer: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    last_tag_time: float | None = None

    @property
    def config_digest(self) -> Digest:
        """The digest of the config blob (the ID, typed)."""
        return Digest.parse(self.id)

    @property
    def short_id(self) -> str:
        """The 12 hex digits Docker shows."""
        return ids.short_id(self.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord:
    """What is stored for a new image (everything but its names)."""

    id: str
    manifest_digest: str | None
    created: str
    size: int
    os: str
    architecture: str
    variant: str = ""
    parent: str = ""
    top_layer: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def parse_created(text: str | None) -> float:
    """RFC 3339 (with Go's nanoseconds) to epoch seconds; 0 for missing or unparsable times."""
    if not text:
        return 0.0
    value = text.strip().replace("Z", "+00:00")
    date, dot, rest = value.partition(".")
    if dot:  # fromisoformat on 3.11 takes at most 6 fraction digits
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{date}.{(digits + '000000')[:6]}{zone}"
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


class ImageStore:
    """Image records and references in the state database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        schema.migrate(db)

    # --- images ----------------------------------------------------------------------------
    def add(self, record: ImageRecord) -> bool:
        """Store an image; False if it was already there (its record is kept as it was)."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, created, size, os, architecture, "
                "variant, parent, top_layer, labels, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.manifest_digest,
                    record.created,
                    record.size,
                    record.os,
                    record.architecture,
                    record.variant,
                    record.parent,
                    record.top_layer,
                    jsoncodec.dumps(record.labels),
                    time.time(),
                ),
            )
            added = cursor.rowcount == 1
            if not added and record.manifest_digest:
                conn.execute(
                    "UPDATE images SET manifest_digest = ? WHERE id = ? AND manifest_digest IS NULL",
                    (record.manifest_digest, record.id),
                )
        return added

    def exists(self, image_id: str) -> bool:
        """True when an image with exactly this ID is stored."""
        return self._db.query_one("SELECT 1 FROM images WHERE id = ?", (image_id,)) is not None

    def get(self, image_id: str) -> Image:
        """The image with exactly this ID.

        Raises:
            NoSuchImage: there is none.
        """
        images = self._load("WHERE id = ?", (image_id,))
        if not images:
            raise NoSuchImage(image_id)
        return images[0]

    def all(self) -> list[Image]:
        """Every image, with its references."""
        return self._load("", ())

    def delete(self, image_id: str) -> None:
        """Remove the image record and every reference to it."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM image_digests WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def children(self, image_id: str) -> list[str]:
        """IDs of images whose parent is ``image_id`` (built or committed on top of it)."""
        rows = self._db.query("SELECT id FROM images WHERE parent = ?", (image_id,))
        return [r["id"] for r in rows]

    def top_layers(self) -> set[str]:
        """The top-layer chain IDs of all images (GC's roots)."""
        rows = self._db.query("SELECT DISTINCT top_layer FROM images WHERE top_layer IS NOT NULL")
        return {r["top_layer"] for r in rows}

    # --- references ------------------------------------------------------------------------
    def tag(self, image_id: str, ref: Reference) -> str | None:
        """Point ``ref`` (a tagged reference) at the image; returns the ID it pointed at before.

        Raises:
            InvalidArgument: ``ref`` has a digest (Docker refuses to tag with one).
        """
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        ref = ref.with_default_tag()
        now = time.time()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT image_id FROM image_tags WHERE repo = ? AND tag = ?", (ref.name(), ref.tag)
            ).fetchone()
            conn.execute(
                "INSERT INTO image_tags (repo, tag, image_id, tagged) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(repo, tag) DO UPDATE SET image_id = excluded.image_id, tagged = excluded.tagged",
                (ref.name(), ref.tag, image_id, now),
            )
            conn.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now, image_id))
        return row["image_id"] if row is not None else None

    def add_digest(self, image_id: str, ref: Reference) -> None:
        """Record ``repo@digest`` (the manifest an image was pulled or pushed as)."""
        if ref.digest is None:
            raise InvalidArgument("a repo digest needs a digest")
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO image_digests (repo, digest, image_id) VALUES (?, ?, ?) "
                "ON CONFLICT(repo, digest) DO UPDATE SET image_id = excluded.image_id",
                (ref.name(), str(ref.digest), image_id),
            )

    def remove_reference(self, ref: Reference) -> bool:
        """Delete a tag (``ref`` with a tag, or none: ``latest``) or a repo digest; False if absent."""
        if ref.digest is not None:
            sql, params = (
                "DELETE FROM image_digests WHERE repo = ? AND digest = ?",
                (ref.name(), str(ref.digest)),
            )
        else:
            ref = ref.with_default_tag()
            sql, params = "DELETE FROM image_tags WHERE repo = ? AND tag = ?", (ref.name(), ref.tag or "")
        with self._db.transaction() as conn:
            return conn.execute(sql, params).rowcount > 0

    def references(self, image_id: str) -> list[Reference]:
        """Every tag and repo digest of the image, tags first, each group in the order added."""
        refs: list[Reference] = []
        for row in self._db.query(
            "SELECT repo, tag FROM image_tags WHERE image_id = ? ORDER BY rowid", (image_id,)
        ):
            refs.append(Reference.parse(row["repo"]).with_tag(row["tag"]))
        for row in self._db.query(
            "SELECT repo, digest FROM image_digests WHERE image_id = ? ORDER BY rowid", (image_id,)
        ):
            refs.append(Reference.parse(row["repo"]).with_digest(Digest.parse(row["digest"])))
        return refs

    def lookup_reference(self, ref: Reference) -> str | None:
        """The image ID a reference points at (a bare name means its ``latest`` tag)."""
        if ref.digest is not None:
            row = self._db.query_one(
                "SELECT image_id FROM image_digests WHERE repo = ? AND digest = ?",
                (ref.name(), str(ref.digest)),
            )
        else:
            ref = ref.with_default_tag()
            row = self._db.query_one(
                "SELECT image_id FROM image_tags WHERE repo = ? AND tag = ?", (ref.name(), ref.tag)
            )
        return row["image_id"] if row is not None else None

    def repository_tags(self, ref: Reference) -> list[str]:
        """The tags stored for ``ref``'s repository."""
        rows = self._db.query("SELECT tag FROM image_tags WHERE repo = ? ORDER BY tag", (ref.name(),))
        return [r["tag"] for r in rows]

    # --- resolution ------------------------------------------------------------------------
    def resolve(self, name_or_id: str) -> Image:
        """The image a user's name or ID means (see the module essay for the rules).

        Raises:
            NoSuchImage: nothing matches, or an ID prefix is ambiguous (Docker's message).
            InvalidArgument: ``name_or_id`` is neither an ID nor a valid reference.
        """
        text = name_or_id.strip()
        if ids.is_full_id(text) or (text.startswith("sha256:") and ids.is_full_id(text[7:])):
            image_id = text if text.startswith("sha256:") else f"sha256:{text}"
            if self.exists(image_id):
                return self.get(image_id)
            raise NoSuchImage(text, f"No such image: {image_id}")
        ref = Reference.parse(text)
        found = self.lookup_reference(ref)
        if found is not None and self.exists(found):
            return self.get(found)
        prefix = text.removeprefix("sha256:")
        if ids.is_hex_prefix(prefix):
            rows = self._db.query(
                "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2",
                (f"sha256:{prefix}", f"sha256:{prefix}\x7f"),
            )
            if len(rows) == 1:
                return self.get(rows[0]["id"])
        raise NoSuchImage(text, f"No such image: {ref.with_default_tag().familiar_string()}")

    # --- loading ---------------------------------------------------------------------------
    def _load(self, where: str, params: tuple[object, ...]) -> list[Image]:
        with self._db.snapshot() as conn:
            rows = conn.execute(f"SELECT * FROM images {where}", params).fetchall()
            tags = _group(
                conn.execute("SELECT repo, tag, image_id FROM image_tags ORDER BY rowid").fetchall()
            )
            digests = _group(
                conn.execute("SELECT repo, digest, image_id FROM image_digests ORDER BY rowid").fetchall()
            )
        images = []
        for row in rows:
            image_tags = [_familiar(repo, f":{tag}") for repo, tag in tags.get(row["id"], [])]
            image_digests = [_familiar(repo, f"@{digest}") for repo, digest in digests.get(row["id"], [])]
            images.append(_image(row, tuple(image_tags), tuple(image_digests)))
        return images


def _group(rows: Iterable[Row]) -> dict[str, list[tuple[str, str]]]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row[2], []).append((row[0], row[1]))
    return grouped


def _familiar(repo: str, suffix: str) -> str:
    return Reference.parse(repo).familiar_name() + suffix


def _image(row: Row, repo_tags: tuple[str, ...], repo_digests: tuple[str, ...]) -> Image:
    labels = jsoncodec.loads(row["labels"]) if row["labels"] else {}
    return Image(
        id=row["id"],
        repo_tags=repo_tags,
        repo_digests=repo_digests,
        created=row["created"],
        created_at=parse_created(row["created"]),
        size=row["size"],
        manifest_digest=row["manifest_digest"],
        parent=row["parent"],
        os=row["os"],
        architecture=row["architecture"],
        variant=row["variant"],
        top_layer=row["top_layer"],
        labels=labels if isinstance(labels, dict) else {},
        last_tag_time=row["last_tag_time"],
    )
