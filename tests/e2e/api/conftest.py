"""A real dockyardd per test (DaemonHarness), with the lab's ``alpine`` loaded from a fixture.

No registry is needed for most tests: ``alpine`` is built from Debian's busybox-static by
``tests.support.oci_layouts`` and loaded through ``POST /images/load``. Pull tests use the
session registry (``registry_with_fixtures``, from ``tests/e2e/conftest.py``).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonHarness
from tests.support.oci_layouts import fixture, write_docker_save

__all__ = ["load_alpine"]


@pytest.fixture(scope="session")
def alpine_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A ``docker save`` archive of the lab's alpine, tagged ``alpine:latest``."""
    path = write_docker_save(
        tmp_path_factory.mktemp("dyt-images") / "alpine.tar", [(fixture("alpine"), None)]
    )
    return Path(path).read_bytes()


def load_alpine(daemon: DaemonHarness, archive: bytes) -> None:
    """``POST /images/load`` of the alpine archive (what ``docker load`` sends)."""
    connection = http.client.HTTPConnection("localhost", timeout=60)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(daemon.socket)
    connection.sock = sock
    try:
        connection.request(
            "POST", "/v1.45/images/load?quiet=1", body=archive, headers={"Content-Type": "application/x-tar"}
        )
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        assert b"Loaded image: alpine:latest" in body, body
    finally:
        connection.close()


@pytest.fixture
def daemon() -> Iterator[DaemonHarness]:
    with DaemonHarness() as harness:
        yield harness


@pytest.fixture
def lab(daemon: DaemonHarness, alpine_tar: bytes) -> DaemonHarness:
    """A daemon with ``alpine:latest`` loaded."""
    load_alpine(daemon, alpine_tar)
    return daemon
