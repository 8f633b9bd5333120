"""Image records: Docker's lookup rules, tags and repo digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NoSuchImage
from dockyard.image.store import ImageRecord, ImageStore, parse_created
from dockyard.oci.digest import Digest
from dockyard.registry import Reference
from dockyard.util.db import Database


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(Database(tmp_path / "state.db"))


def add(store: ImageStore, hex_id: str, created: str = "2024-01-01T00:00:00Z") -> str:
    image_id = "sha256:" + hex_id.ljust(64, "0")
    record = ImageRecord(
        id=image_id, manifest_digest=None, created=created, size=10, os="linux", architecture="amd64"
    )
    store.add(record)
    return image_id


def test_a_bare_name_means_latest(store: ImageStore) -> None:
    image_id = add(store, "ab")
    store.tag(image_id, Reference.parse("alpine:latest"))

    assert store.resolve("alpine").id == image_id
    assert store.resolve("docker.io/library/alpine:latest").id == image_id
    assert store.resolve("alpine:latest").repo_tags == ("alpine:latest",)


def test_ids_full_short_and_prefixed(store: ImageStore) -> None:
    image_id = add(store, "abcdef12")

    assert store.resolve(image_id).id == image_id
    assert store.resolve(image_id[7:]).id == image_id
    assert store.resolve("abcdef").id == image_id
    assert store.resolve("sha256:abcd").id == image_id


def test_ambiguous_prefix_is_no_such_image(store: ImageStore) -> None:
    add(store, "abc1")
    add(store, "abc2")

    with pytest.raises(NoSuchImage, match=r"^No such image: abc:latest$"):
        store.resolve("abc")


def test_unknown_names_get_dockers_message(store: ImageStore) -> None:
    with pytest.raises(NoSuchImage, match=r"^No such image: alpine:latest$"):
        store.resolve("alpine")
    with pytest.raises(NoSuchImage, match=r"^No such image: 127.0.0.1:5000/x:1$"):
        store.resolve("127.0.0.1:5000/x:1")
    with pytest.raises(InvalidArgument, match="repository name must be lowercase"):
        store.resolve("Alpine")


def test_tag_moves_and_reports_the_previous_image(store: ImageStore) -> None:
    old, new = add(store, "aa"), add(store, "bb")
    ref = Reference.parse("app:1")

    assert store.tag(old, ref) is None
    assert store.tag(new, ref) == old

    assert store.resolve("app:1").id == new
    assert store.get(old).repo_tags == ()
    assert store.get(new).last_tag_time is not None


def test_tag_with_a_digest_is_refused(store: ImageStore) -> None:
    image_id = add(store, "aa")
    with pytest.raises(InvalidArgument, match="refusing to create a tag with a digest reference"):
        store.tag(image_id, Reference.parse("app@sha256:" + "1" * 64))


def test_repo_digests_resolve_and_show(store: ImageStore) -> None:
    image_id = add(store, "aa")
    digest = Digest("sha256", "2" * 64)
    store.add_digest(image_id, Reference.parse("alpine").with_digest(digest))

    assert store.resolve(f"alpine@{digest}").id == image_id
    assert store.get(image_id).repo_digests == (f"alpine@{digest}",)
    assert [str(r) for r in store.references(image_id)] == [f"docker.io/library/alpine@{digest}"]


def test_delete_removes_references(store: ImageStore) -> None:
    image_id = add(store, "aa")
    store.tag(image_id, Reference.parse("x:1"))

    store.delete(image_id)

    assert not store.exists(image_id)
    with pytest.raises(NoSuchImage):
        store.resolve("x:1")


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-01-02T03:04:05Z", 1704164645.0),
        ("2024-01-02T03:04:05.123456789Z", 1704164645.123456),
        ("2024-01-02T04:04:05+01:00", 1704164645.0),
        ("", 0.0),
        ("garbage", 0.0),
    ],
)
def test_parse_created(text: str, epoch: float) -> None:
    assert parse_created(text) == pytest.approx(epoch)
