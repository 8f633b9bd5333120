"""The image room's tables in the state database, and their forward-only migrations.

- ``image_snapshots``: one row per snapshot directory ``<snapshots_root>/<id>``. ``key`` is the
  chain ID for a committed layer, ``init:<container>`` / ``rw:<container>`` for a container's
  init and writable layers, and ``prepare:<chain>:<nonce>`` while a layer is being unpacked
  (kind ``preparing``: never trusted, removed at start-up and by GC). ``parent`` is the key of
  the snapshot below, so a layer's chain is a walk up the parents. ``blob`` and ``media_type``
  name the content-store blob a layer was unpacked from (``save`` and ``push`` send it again).
- ``images``: one row per image; the ID is the config digest. ``top_layer`` is the chain ID of
  its top layer (null for an image without layers); the layers themselves are derived from the
  config's ``rootfs.diff_ids``, so reference counts are computed, never stored.
- ``image_tags`` and ``image_digests``: the repository references (``repo`` is the fully
  qualified name, ``docker.io/library/alpine``).
"""

from __future__ import annotations

from dockyard.util.db import Database

__all__ = ["migrate"]

ROOM = "image"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE image_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        parent TEXT,
        diff_id TEXT,
        blob TEXT,
        media_type TEXT,
        size INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE INDEX image_snapshots_parent ON image_snapshots(parent);
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT,
        created TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        os TEXT NOT NULL DEFAULT '',
        architecture TEXT NOT NULL DEFAULT '',
        variant TEXT NOT NULL DEFAULT '',
        parent TEXT NOT NULL DEFAULT '',
        top_layer TEXT,
        labels TEXT NOT NULL DEFAULT '{}',
        added REAL NOT NULL,
        last_tag_time REAL
    );
    CREATE TABLE image_tags (
        repo TEXT NOT NULL,
        tag TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id),
        tagged REAL NOT NULL,
        PRIMARY KEY (repo, tag)
    );
    CREATE INDEX image_tags_image ON image_tags(image_id);
    CREATE TABLE image_digests (
        repo TEXT NOT NULL,
        digest TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (repo, digest)
    );
    CREATE INDEX image_digests_image ON image_digests(image_id);
    """,
)


def migrate(db: Database) -> None:
    """Bring the image room's tables up to date (idempotent; cheap when already current).

    Raises:
        CorruptRecord: the database was written by a newer dockyard.
    """
    db.migrate(ROOM, MIGRATIONS)
