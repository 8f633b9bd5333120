"""Garbage collection and fsck of the image room's disk state.

There are no reference counts on disk: what is in use is computed from the records, each time
(containerd's GC, without leases).

- **Layers** in use are the parent chains of every image's top layer and of every container's
  init layer, and of layers younger than the grace period (a pull commits its layers before its
  image record). Any other committed layer is removed, children before parents.
- **Blobs** in use are image configs (the IDs), the manifests and indexes images were pulled as
  (``manifest_digest`` and repo digests), and the blobs committed layers were unpacked from.
  Other blobs are removed once older than a grace period, so a ``load`` that has stored its
  blobs but not yet its image record is not robbed.
- **Ingests** not touched for the grace period, and not locked by a writer, are removed.
- **Container snapshots** of containers the engine no longer knows (when it says which it
  knows), and snapshots still ``preparing`` after the grace period, are removed.

``fsck`` reports inconsistencies without repairing: blobs whose content does not hash to their
name, images whose top layer or config is missing, layers whose directory is missing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from dockyard.image.content import ContentStore
from dockyard.image.snapshots import INIT, LAYER, PREPARING, Snapshot, Snapshotter
from dockyard.image.store import ImageStore
from dockyard.oci.digest import Digest
from dockyard.util.db import Database

__all__ = ["GcReport", "collect", "fsck", "layers_in_use", "release_image_layers"]

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class GcReport:
    """What a collection removed, and how many bytes that freed."""

    layers: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    ingests: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reclaimed: int = 0


def layers_in_use(store: ImageStore, snapshots: Snapshotter, *, ignore_image: str | None = None) -> set[str]:
    """Chain IDs of every layer an image or a container needs."""
    if ignore_image is None:
        roots = store.top_layers()
    else:
        roots = {i.top_layer for i in store.all() if i.id != ignore_image and i.top_layer}
    for snap in snapshots.all():
        if snap.kind == INIT and snap.parent:
            roots.add(snap.parent)
    used: set[str] = set()
    for root in roots:
        current: str | None = root
        while current is not None and current not in used:
            used.add(current)
            below = snapshots.get(current)
            current = below.parent if below is not None else None
    return used


def release_image_layers(
    store: ImageStore, snapshots: Snapshotter, content: ContentStore, top_layer: str | None, image_id: str
) -> list[str]:
    """After image ``image_id`` is gone: remove the layers of its chain nobody else uses, top
    first, and the blobs they were unpacked from. Returns the removed chain IDs."""
    if top_layer is None:
        return []
    used = layers_in_use(store, snapshots, ignore_image=image_id)
    removed: list[str] = []
    current: str | None = top_layer
    while current is not None and current not in used:
        snap = snapshots.get(current)
        if snap is None or snap.kind != LAYER:
            break
        if snapshots.children(current):
            break  # something unexpected still sits on it; GC will look again later
        snapshots.remove_layer(current)
        _drop_blob_if_unused(snapshots, content, snap)
        removed.append(current)
        current = snap.parent
    return removed


def _drop_blob_if_unused(snapshots: Snapshotter, content: ContentStore, snap: Snapshot) -> None:
    if snap.blob and not any(s.blob == snap.blob for s in snapshots.layers()):
        content.delete(Digest.parse(snap.blob))


def blobs_in_use(db: Database, snapshots: Snapshotter) -> set[str]:
    """Digests (as text) of every blob an image or a layer needs."""
    used: set[str] = set()
    for row in db.query("SELECT id, manifest_digest FROM images"):
        used.add(row["id"])
        if row["manifest_digest"]:
            used.add(row["manifest_digest"])
    used.update(row["digest"] for row in db.query("SELECT digest FROM image_digests"))
    used.update(s.blob for s in snapshots.layers() if s.blob)
    return used


def collect(
    db: Database,
    store: ImageStore,
    content: ContentStore,
    snapshots: Snapshotter,
    *,
    live_containers: set[str] | None = None,
    grace: float = 600.0,
) -> GcReport:
    """Remove what nothing uses (see the module essay). Blocking: run it in a worker thread."""
    report = GcReport()
    now = time.time()
    for snap in snapshots.all():
        if snap.kind == PREPARING:
            unwanted = now - snap.created > grace
        else:
            container_id = snap.key.partition(":")[2]
            unwanted = (
                snap.kind != LAYER and live_containers is not None and container_id not in live_containers
            )
        if unwanted:
            snapshots.discard(snap)
            report.snapshots.append(snap.key)
    _collect_layers(store, snapshots, report, newer_than=now - grace)
    used = blobs_in_use(db, snapshots)
    for digest in list(content.digests()):
        if str(digest) in used:
            continue
        path = content.path(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < grace:
            continue
        if content.delete(digest):
            report.blobs.append(str(digest))
            report.reclaimed += st.st_size
    for ingest in content.stale_ingests(grace):
        content.remove_ingest(ingest)
        report.ingests.append(ingest.name)
    return report


def _collect_layers(
    store: ImageStore, snapshots: Snapshotter, report: GcReport, *, newer_than: float
) -> None:
    # A layer younger than the grace period may belong to a pull that has not written its image
    # record yet; it (and so everything under it) is left for a later collection.
    used = layers_in_use(store, snapshots)
    for snap in snapshots.layers():
        if snap.created > newer_than:
            used.update(s.key for s in snapshots.chain(snap.key))
    while True:
        candidates = [s for s in snapshots.layers() if s.key not in used and not snapshots.children(s.key)]
        if not candidates:
            return
        for snap in candidates:
            report.reclaimed += snapshots.usage(snap)
            snapshots.remove_layer(snap.key)
            report.layers.append(snap.key)


def fsck(store: ImageStore, content: ContentStore, snapshots: Snapshotter) -> list[str]:
    """Inconsistencies, one line each (empty when all is well). Re-hashes every blob: slow."""
    problems = content.verify()
    for image in store.all():
        if not content.exists(image.config_digest):
            problems.append(f"image {image.id}: config blob missing")
        if image.top_layer and not snapshots.has_layer(image.top_layer):
            problems.append(f"image {image.id}: top layer {image.top_layer} missing")
    for snap in snapshots.all():
        if snap.kind == PREPARING:
            problems.append(f"snapshot {snap.id}: unfinished {snap.key}")
        elif not snapshots.fs(snap).is_dir():
            problems.append(f"snapshot {snap.id} ({snap.key}): directory missing")
        if snap.kind == LAYER and snap.blob and not content.exists(Digest.parse(snap.blob)):
            problems.append(f"layer {snap.key}: blob {snap.blob} missing")
    return problems
