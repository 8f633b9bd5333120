"""The content store: verified commits, resumable ingests, readers that tail, fsck."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dockyard.config import Paths
from dockyard.errors import Unavailable
from dockyard.image.content import BlobNotFound, ContentStore
from dockyard.oci.digest import Digest, DigestMismatch


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(Paths(data_root=tmp_path / "data", exec_root=tmp_path / "exec"))


def test_commit_stores_the_blob_under_its_digest(store: ContentStore) -> None:
    data = b"hello" * 1000
    digest = Digest.from_bytes(data)

    with store.ingest(digest, len(data)) as ingest:
        ingest.write(data[:100])
        ingest.write(data[100:])
        ingest.commit()

    assert store.exists(digest)
    assert store.read(digest, limit=10_000) == data
    assert list(store.digests()) == [digest]
    assert not any(store.path(digest).parent.parent.parent.joinpath("ingest").iterdir())


def test_wrong_content_is_never_committed(store: ContentStore) -> None:
    digest = Digest.from_bytes(b"expected")

    ingest = store.ingest(digest, 8)
    ingest.write(b"tampered")

    with pytest.raises(DigestMismatch):
        ingest.commit()

    assert not store.exists(digest)
    assert store.stale_ingests(older_than=0) == []  # proven-wrong bytes are removed at once


def test_more_bytes_than_declared_are_refused_at_once(store: ContentStore) -> None:
    digest = Digest.from_bytes(b"abc")
    ingest = store.ingest(digest, 3)

    with pytest.raises(DigestMismatch, match="more than the 3 bytes"):
        ingest.write(b"abcd")

    assert not store.exists(digest)


def test_short_content_is_refused(store: ContentStore) -> None:
    digest = Digest.from_bytes(b"abcdef")

    ingest = store.ingest(digest, 6)
    ingest.write(b"abc")

    with pytest.raises(DigestMismatch, match="3 bytes, 6 declared"):
        ingest.commit()


def test_an_interrupted_ingest_is_resumed(store: ContentStore) -> None:
    data = os.urandom(10_000)
    digest = Digest.from_bytes(data)
    first = store.ingest(digest, len(data))
    first.write(data[:4000])
    first.close()  # a dropped connection: the bytes stay

    with store.ingest(digest, len(data)) as second:
        assert second.offset == 4000
        second.write(data[4000:])
        second.commit()

    assert store.read(digest, limit=len(data)) == data


def test_a_locked_ingest_cannot_be_opened_twice(store: ContentStore) -> None:
    digest = Digest.from_bytes(b"x")
    with store.ingest(digest, 1), pytest.raises(Unavailable):
        store.ingest(digest, 1)


def test_ingest_without_digest_commits_under_what_it_hashed_to(store: ContentStore) -> None:
    with store.ingest(None, None, limit=100) as ingest:
        ingest.write(b"payload")
        digest = ingest.commit()

    assert digest == Digest.from_bytes(b"payload")
    assert ingest.committed == digest


def test_reader_tails_the_ingest_until_commit(store: ContentStore) -> None:
    data = os.urandom(300_000)
    digest = Digest.from_bytes(data)
    ingest = store.ingest(digest, len(data))
    reader = ingest.reader()
    received: list[bytes] = []

    def consume() -> None:
        while chunk := reader.read(65536):
            received.append(chunk)

    thread = threading.Thread(target=consume)
    thread.start()
    for i in range(0, len(data), 50_000):
        ingest.write(data[i : i + 50_000])
        time.sleep(0.001)
    ingest.commit()
    thread.join(5)
    reader.close()

    assert b"".join(received) == data


def test_reader_raises_the_ingest_failure(store: ContentStore) -> None:
    digest = Digest.from_bytes(b"good")
    ingest = store.ingest(digest, 4)
    reader = ingest.reader()
    ingest.write(b"evil")

    with pytest.raises(DigestMismatch):
        ingest.commit()

    assert reader.read(4) == b"evil"  # bytes written before the failure are still readable
    with pytest.raises(DigestMismatch):
        reader.read(4)
    reader.close()


def test_verify_reports_blobs_that_lie(store: ContentStore) -> None:
    good = store.add(b"good")
    bad = store.add(b"bad")
    store.path(bad).write_bytes(b"corrupted")

    problems = store.verify(remove=True)

    assert len(problems) == 1
    assert str(bad) in problems[0]
    assert store.exists(good)
    assert not store.exists(bad)


def test_stale_ingests_are_found_after_the_grace_period(store: ContentStore) -> None:
    ingest = store.ingest(Digest.from_bytes(b"partial data"), 12)
    ingest.write(b"partial")
    assert store.stale_ingests(older_than=0) == []  # locked by its writer
    ingest.close()

    stale = store.stale_ingests(older_than=0)

    assert [p.name for p in stale] == [ingest.directory.name]
    store.remove_ingest(stale[0])
    assert store.stale_ingests(older_than=0) == []


def test_missing_blob(store: ContentStore) -> None:
    with pytest.raises(BlobNotFound):
        store.open(Digest.from_bytes(b"nope"))
