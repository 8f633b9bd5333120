"""``docker rmi``: Docker's untag/delete rules and conflict messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import ImageInUse, NoSuchImage
from dockyard.image.removal import ImageDeleter
from dockyard.image.store import Image, ImageRecord, ImageStore
from dockyard.oci.digest import Digest
from dockyard.registry import Reference
from dockyard.util.db import Database

CONTAINER = "c" * 64
IMG = "sha256:" + "a" * 64
DIGEST = Digest("sha256", "d" * 64)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = ImageStore(Database(tmp_path / "state.db"))
        self.users: dict[str, list[tuple[str, bool]]] = {}
        self.removed: list[str] = []

    def image(self, image_id: str = IMG, *refs: str, parent: str = "") -> str:
        record = ImageRecord(
            id=image_id,
            manifest_digest=None,
            created="",
            size=1,
            os="linux",
            architecture="amd64",
            parent=parent,
        )
        self.store.add(record)
        for text in refs:
            ref = Reference.parse(text)
            if ref.digest is not None:
                self.store.add_digest(image_id, ref)
            else:
                self.store.tag(image_id, ref)
        return image_id

    def remove_image(self, image: Image) -> list[str]:
        self.store.delete(image.id)
        self.removed.append(image.id)
        return [f"sha256:{'e' * 64}"] if image.id == IMG else []

    def rmi(self, name: str, *, force: bool = False, prune: bool = True) -> list[tuple[str, str]]:
        deleter = ImageDeleter(self.store, lambda i: self.users.get(i, []), self.remove_image)
        return deleter.delete(name, force=force, prune=prune)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_rmi_by_name_untags_then_deletes(world: World) -> None:
    world.image(IMG, "alpine:latest", f"alpine@{DIGEST}")

    records = world.rmi("alpine")

    assert records == [
        ("Untagged", "alpine:latest"),
        ("Untagged", f"alpine@{DIGEST}"),
        ("Deleted", IMG),
        ("Deleted", f"sha256:{'e' * 64}"),
    ]
    assert not world.store.exists(IMG)


def test_rmi_of_one_tag_of_several_only_untags(world: World) -> None:
    world.image(IMG, "alpine:latest", "alpine:3")

    assert world.rmi("alpine:3") == [("Untagged", "alpine:3")]
    assert world.store.exists(IMG)


def test_stopped_container_blocks_removing_the_last_reference(world: World) -> None:
    world.image(IMG, "alpine:latest")
    world.users[IMG] = [(CONTAINER, False)]

    with pytest.raises(ImageInUse) as caught:
        world.rmi("alpine")

    assert str(caught.value) == (
        'conflict: unable to remove repository reference "alpine" (must force) - '
        f"container {'c' * 12} is using its referenced image {'a' * 12}"
    )


def test_force_removes_an_image_a_stopped_container_uses(world: World) -> None:
    world.image(IMG, "alpine:latest")
    world.users[IMG] = [(CONTAINER, False)]

    records = world.rmi("alpine", force=True)

    assert records[:2] == [("Untagged", "alpine:latest"), ("Deleted", IMG)]


def test_force_by_name_with_a_running_container_only_untags(world: World) -> None:
    world.image(IMG, "alpine:latest")
    world.users[IMG] = [(CONTAINER, True)]

    assert world.rmi("alpine", force=True) == [("Untagged", "alpine:latest")]
    assert world.store.exists(IMG)


def test_running_container_is_a_hard_conflict_by_id(world: World) -> None:
    world.image(IMG, "alpine:latest")
    world.users[IMG] = [(CONTAINER, True)]

    with pytest.raises(ImageInUse) as caught:
        world.rmi("a" * 12, force=True)

    assert str(caught.value) == (
        f"conflict: unable to delete {'a' * 12} (cannot be forced) - "
        f"image is being used by running container {'c' * 12}"
    )


def test_stopped_container_by_id_needs_force(world: World) -> None:
    world.image(IMG)
    world.users[IMG] = [(CONTAINER, False)]

    stopped = r"\(must be forced\) - image is being used by stopped container c{12}$"
    with pytest.raises(ImageInUse, match=stopped):
        world.rmi("aaaa")
    assert ("Deleted", IMG) in world.rmi("aaaa", force=True)


def test_id_referenced_in_several_repositories_needs_force(world: World) -> None:
    world.image(IMG, "alpine:latest", "myrepo/base:1")

    with pytest.raises(ImageInUse) as caught:
        world.rmi("a" * 12)
    assert str(caught.value) == (
        f"conflict: unable to delete {'a' * 12} (must be forced) - "
        "image is referenced in multiple repositories"
    )

    records = world.rmi("a" * 12, force=True)
    assert records == [
        ("Untagged", "alpine:latest"),
        ("Untagged", "myrepo/base:1"),
        ("Deleted", IMG),
        ("Deleted", f"sha256:{'e' * 64}"),
    ]


def test_id_with_one_repository_untags_it(world: World) -> None:
    world.image(IMG, "alpine:latest", f"alpine@{DIGEST}")

    records = world.rmi(IMG)

    assert records[:3] == [("Untagged", "alpine:latest"), ("Untagged", f"alpine@{DIGEST}"), ("Deleted", IMG)]


def test_untagged_parents_are_pruned_unless_noprune(world: World) -> None:
    parent = world.image("sha256:" + "b" * 64)
    world.image(IMG, "app:1", parent=parent)

    assert ("Deleted", parent) in world.rmi("app:1")


def test_noprune_keeps_parents(world: World) -> None:
    parent = world.image("sha256:" + "b" * 64)
    world.image(IMG, "app:1", parent=parent)

    records = world.rmi("app:1", prune=False)

    assert ("Deleted", parent) not in records
    assert world.store.exists(parent)


def test_child_image_is_a_hard_conflict(world: World) -> None:
    parent = world.image("sha256:" + "b" * 64)
    world.image(IMG, "app:1", parent=parent)

    with pytest.raises(ImageInUse, match=r"\(cannot be forced\) - image has dependent child images"):
        world.rmi("b" * 12, force=True)


def test_unknown_image(world: World) -> None:
    with pytest.raises(NoSuchImage, match="No such image: nope:latest"):
        world.rmi("nope")
