"""``docker rmi``: Docker's rules for untagging and deleting images.

This is dockerd 20.10's ``ImageDelete`` (moby ``daemon/images/image_delete.go``), including its
wording, because users and scripts read these messages:

- **By name** (``rmi alpine``): the reference is removed ("Untagged: alpine:latest"). If it was
  the image's only repository and a container uses the image, that needs ``-f``:
  ``conflict: unable to remove repository reference "alpine" (must force) - container <12> is
  using its referenced image <12>``. Removing the last tag of a repository also removes that
  repository's digest references. If references remain, that is all; otherwise the image itself
  is deleted *quietly* (a conflict then just keeps it).
- **By ID** (``rmi 4659ba97837b``): when all references are in one repository (at most one tag),
  they are removed with it; otherwise deleting needs ``-f``: ``conflict: unable to delete <12>
  (must be forced) - image is referenced in multiple repositories``.
- **Conflicts**: *hard* ones cannot be forced (a running container: ``... (cannot be forced) -
  image is being used by running container <12>``; a child image: ``image has dependent child
  images``); *soft* ones need ``-f`` (a stopped container, other references).
- Deleting an image reports ``Deleted: <image id>`` and then ``Deleted: <chain id>`` for each layer
  no other image or container holds. Without ``noprune``, parent images (local builds) left
  without names are deleted too, quietly.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.errors import ImageInUse
from dockyard.image.store import Image, ImageStore
from dockyard.registry import Reference
from dockyard.util import ids

__all__ = ["ImageDeleter", "is_image_id_prefix"]

UsedBy = Callable[[str], list[tuple[str, bool]]]
"""``used_by(image_id) -> [(container_id, running)]``: supplied by the engine."""

_CHILD = 1
_RUNNING = 2
_ACTIVE_REFERENCE = 4
_STOPPED = 8
_HARD = _CHILD | _RUNNING
_SOFT = _ACTIVE_REFERENCE | _STOPPED


class _Conflict(ImageInUse):
    def __init__(self, image_id: str, message: str, *, hard: bool, used: bool) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {ids.short_id(image_id)} ({force}) - {message}")
        self.used = used


def is_image_id_prefix(image_id: str, text: str) -> bool:
    """True when ``text`` names ``image_id`` by (a prefix of) its ID, with or without ``sha256:``."""
    return image_id.startswith(text) or image_id.partition(":")[2].startswith(text)


class ImageDeleter:
    """One ``rmi``: resolves, checks conflicts, removes references and images.

    ``remove_image(image)`` deletes an image's record and data and returns the chain IDs of the
    layers that went with it.
    """

    def __init__(
        self, store: ImageStore, used_by: UsedBy, remove_image: Callable[[Image], list[str]]
    ) -> None:
        self._store = store
        self._used_by = used_by
        self._remove_image = remove_image

    def delete(self, name: str, *, force: bool, prune: bool) -> list[tuple[str, str]]:
        """Remove ``name``; returns ``[("Untagged", ref) | ("Deleted", id), ...]`` in Docker's order.

        Raises:
            NoSuchImage: nothing is called ``name``.
            ImageInUse: a conflict (Docker's messages, see the module essay).
        """
        image = self._store.resolve(name)
        records: list[tuple[str, str]] = []
        refs = self._store.references(image.id)
        quiet = False
        if not is_image_id_prefix(image.id, name):
            if not force and _is_single_reference(refs):
                users = self._used_by(image.id)
                if users:
                    raise ImageInUse(
                        f'conflict: unable to remove repository reference "{name}" (must force) - container '
                        f"{ids.short_id(users[0][0])} is using its referenced image {image.short_id}"
                    )
            if self._untag_name(image, Reference.parse(name), records):
                return records
            quiet = True
        elif _is_single_reference(refs):
            mask = _HARD if force else _HARD | (_SOFT & ~_ACTIVE_REFERENCE)
            conflict = self._conflict(image, mask)
            if conflict is not None:
                raise conflict
            self._untag_all(image, records)
        self._delete_image(image, records, force=force, prune=prune, quiet=quiet)
        return records

    def _untag_name(self, image: Image, ref: Reference, records: list[tuple[str, str]]) -> bool:
        """Remove one reference (and, with the last tag of its repository, that repository's
        digests); True if the image still has references afterwards."""
        ref = ref.with_default_tag()
        self._store.remove_reference(ref)
        records.append(("Untagged", ref.familiar_string()))
        remaining = self._store.references(image.id)
        if ref.digest is None and not any(r.digest is None and r.name() == ref.name() for r in remaining):
            kept = []
            for other in remaining:
                if other.digest is not None and other.name() == ref.name():
                    self._store.remove_reference(other)
                    records.append(("Untagged", other.familiar_string()))
                else:
                    kept.append(other)
            remaining = kept
        return bool(remaining)

    def _untag_all(self, image: Image, records: list[tuple[str, str]]) -> None:
        for ref in self._store.references(image.id):
            self._store.remove_reference(ref)
            records.append(("Untagged", ref.familiar_string()))

    def _delete_image(
        self, image: Image, records: list[tuple[str, str]], *, force: bool, prune: bool, quiet: bool
    ) -> None:
        mask = _HARD if force else _HARD | _SOFT
        conflict = self._conflict(image, mask)
        if conflict is not None:
            if quiet and (not self._is_dangling(image) or conflict.used):
                return
            raise conflict
        self._untag_all(image, records)
        removed_layers = self._remove_image(image)
        records.append(("Deleted", image.id))
        records.extend(("Deleted", chain_id) for chain_id in removed_layers)
        if prune and image.parent and self._store.exists(image.parent):
            self._delete_image(self._store.get(image.parent), records, force=False, prune=True, quiet=True)

    def _conflict(self, image: Image, mask: int) -> _Conflict | None:
        if mask & _CHILD and self._store.children(image.id):
            return _Conflict(image.id, "image has dependent child images", hard=True, used=False)
        users = self._used_by(image.id) if mask & (_RUNNING | _STOPPED) else []
        running = [cid for cid, is_running in users if is_running]
        if mask & _RUNNING and running:
            message = f"image is being used by running container {ids.short_id(running[0])}"
            return _Conflict(image.id, message, hard=True, used=True)
        if mask & _ACTIVE_REFERENCE and self._store.references(image.id):
            return _Conflict(image.id, "image is referenced in multiple repositories", hard=False, used=False)
        stopped = [cid for cid, is_running in users if not is_running]
        if mask & _STOPPED and stopped:
            message = f"image is being used by stopped container {ids.short_id(stopped[0])}"
            return _Conflict(image.id, message, hard=False, used=True)
        return None

    def _is_dangling(self, image: Image) -> bool:
        return not self._store.references(image.id) and not self._store.children(image.id)


def _is_single_reference(refs: list[Reference]) -> bool:
    """All references in one repository with at most one tag (moby's ``isSingleReference``)."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    digest_repos: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            digest_repos.add(ref.name())
        elif single is None:
            single = ref
        else:
            return False
    if single is None:
        single = refs[0]
    return len(digest_repos) == 1 and single.name() in digest_repos
