"""Snapshots: chain IDs, preparing/committing layers, container layers and Docker's init layer."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from dockyard.errors import Conflict, NotFound
from dockyard.image.initlayer import INIT_ENTRIES
from dockyard.image.snapshots import Snapshotter, chain_ids
from dockyard.util.db import Database

L1, L2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture
def snaps(tmp_path: Path) -> Snapshotter:
    return Snapshotter(tmp_path / "snapshots", Database(tmp_path / "state.db"), sync=False)


def commit_layer(snaps: Snapshotter, chain: str, parent: str | None, content: bytes = b"x") -> None:
    with snaps.prepare_layer(chain, parent) as prep:
        fd = os.open("file", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=prep.root_fd)
        os.write(fd, content)
        os.close(fd)
        prep.commit(chain, len(content), blob=None, media_type=None)


def test_chain_ids_follow_the_image_spec() -> None:
    second = "sha256:" + hashlib.sha256(f"{L1} {L2}".encode()).hexdigest()
    assert chain_ids([L1, L2]) == [L1, second]
    assert chain_ids([]) == []


def test_a_layer_is_visible_only_once_committed(snaps: Snapshotter) -> None:
    with snaps.prepare_layer(L1, None) as prep:
        assert not snaps.has_layer(L1)
        prep.commit(L1, 0, blob=None, media_type=None)
    assert snaps.has_layer(L1)


def test_an_abandoned_preparation_leaves_nothing(snaps: Snapshotter, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), snaps.prepare_layer(L1, None):
        raise RuntimeError("unpack failed")

    assert snaps.all() == []
    assert list((tmp_path / "snapshots").iterdir()) == []


def test_parent_must_be_committed_before_the_child(snaps: Snapshotter) -> None:
    with snaps.prepare_layer(L2, L1) as prep, pytest.raises(NotFound, match="parent layer"):
        prep.commit(L2, 0, blob=None, media_type=None)

    assert snaps.all() == []


def test_container_layers_stack_on_the_image(snaps: Snapshotter) -> None:
    commit_layer(snaps, L1, None)
    commit_layer(snaps, L2, L1)

    snaps.create_container("c1", L2)
    (mount,) = snaps.container_mounts("c1")

    init, top, base = (snaps.get(k) for k in ("init:c1", L2, L1))
    assert init is not None
    assert top is not None
    assert base is not None
    assert mount.type == "overlay"
    assert mount.lowerdirs() == [str(snaps.fs(init)), str(snaps.fs(top)), str(snaps.fs(base))]
    assert f"upperdir={snaps.container_upper('c1')}" in mount.options
    assert "index=off" in mount.options


def test_the_init_layer_has_dockers_placeholders(snaps: Snapshotter) -> None:
    snaps.create_container("c1", None)
    init = snaps.get("init:c1")
    assert init is not None
    root = snaps.fs(init)

    for path, kind in INIT_ENTRIES:
        p = root / path
        if kind == "dir":
            assert p.is_dir(), path
            assert stat.S_IMODE(p.stat().st_mode) == 0o755
        elif kind == "file":
            assert p.is_file(), path
            assert p.stat().st_size == 0
        else:
            assert os.readlink(p) == kind
    assert stat.S_IMODE((root / "etc").stat().st_mode) == 0o755


def test_remove_container_and_layers(snaps: Snapshotter) -> None:
    commit_layer(snaps, L1, None)
    snaps.create_container("c1", L1)

    with pytest.raises(Conflict):
        snaps.remove_layer(L1)
    snaps.remove_container("c1")

    assert snaps.remove_layer(L1)
    assert snaps.all() == []


def test_recover_removes_unfinished_work_and_orphans(snaps: Snapshotter, tmp_path: Path) -> None:
    commit_layer(snaps, L1, None)
    snaps._insert("prepare:x:1", "preparing", None)
    (tmp_path / "snapshots" / "999").mkdir()

    removed = snaps.recover()

    assert len(removed) == 2
    assert [s.key for s in snaps.all()] == [L1]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [str(snaps.get(L1).id)]  # type: ignore[union-attr]


def test_usage_counts_each_inode_once(snaps: Snapshotter) -> None:
    commit_layer(snaps, L1, None, b"12345")
    layer = snaps.get(L1)
    assert layer is not None
    os.link(snaps.fs(layer) / "file", snaps.fs(layer) / "again")

    assert snaps.usage(layer) == 5
