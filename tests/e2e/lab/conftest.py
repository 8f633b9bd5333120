"""Fixtures for walking the tutorials: one daemon per client and walk, the session registry.

``cli`` is parametrized over the clients found on this machine (``clis.available_clis``) at class
scope, so a walk class runs all its steps with one client before the next client starts. ``lab``
is a fresh ``dockyardd`` for that walk (the lab's ``container ls -a`` must show exactly the lab's
containers) plus what the steps learn on the way: container IDs by step, names of images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.e2e.lab.clis import Cli, Result, available_clis
from tests.e2e.lab.terminal import Terminal
from tests.support.daemon import DaemonHarness
from tests.support.registry import FixtureRegistry


@dataclass
class LabSession:
    """One client, one daemon, the registry, and the containers a walk has made so far."""

    cli: Cli
    daemon: DaemonHarness
    registry: FixtureRegistry
    containers: dict[str, str] = field(default_factory=dict)

    @property
    def reg(self) -> str:
        """``127.0.0.1:<port>``: the registry's host, the prefix of every image name it serves."""
        return self.registry.host

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> Result:
        return self.cli.run(self.daemon, *args, stdin=stdin, timeout=timeout)

    def terminal(self, *args: str, rows: int = 24, columns: int = 80) -> Terminal:
        return Terminal(self.cli.argv(*args), self.cli.env(self.daemon), rows=rows, columns=columns)

    def container_ids(self) -> set[str]:
        reply = self.daemon.request("GET", "/containers/json?all=1")
        assert reply.status == 200, reply.body
        return {row["Id"] for row in reply.json()}

    def inspect(self, ref: str) -> dict[str, object]:
        reply = self.daemon.request("GET", f"/containers/{ref}/json")
        assert reply.status == 200, reply.body
        document: dict[str, object] = reply.json()
        return document

    def remember_new(self, step: str, before: set[str]) -> str:
        """The one container that appeared since ``before``, recorded under ``step``."""
        new = self.container_ids() - before
        assert len(new) == 1, f"{step}: expected one new container, found {sorted(new)}"
        self.containers[step] = new.pop()
        return self.containers[step]


@pytest.fixture(scope="class", params=available_clis(), ids=str)
def cli(request: pytest.FixtureRequest) -> Cli:
    client: Cli = request.param
    return client


@pytest.fixture(scope="class")
def lab(cli: Cli, registry_with_fixtures: FixtureRegistry) -> Iterator[LabSession]:
    with DaemonHarness() as daemon:
        yield LabSession(cli, daemon, registry_with_fixtures)
