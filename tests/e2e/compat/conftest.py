"""docker-py against a real dockyardd, every response validated against the Engine API schema.

One daemon serves the whole package (``scope="package"``): starting one costs a second and the
images pulled into it are the same for every test. Each test gets a fresh docker-py client for
one API version (``api_version``: pinned ``1.41``, and ``auto``, which negotiates our highest,
1.45) with an ``ApiRecorder`` hooked in, and must end with ``compat.check()`` so every exchange
it caused was validated; the teardown fails a test that forgot. The teardown also removes the
containers a test left (through the raw API, so they are not recorded) and puts ``alpine`` back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from tests.e2e.compat.schema import ApiRecorder, EngineApi, engine_api, spec_version_for
from tests.support.daemon import DaemonHarness
from tests.support.registry import FixtureRegistry


@dataclass
class Compat:
    """What a compat test works with."""

    client: Any  # docker.DockerClient
    recorder: ApiRecorder
    daemon: DaemonHarness
    registry: FixtureRegistry
    negotiated: str

    @property
    def api(self) -> EngineApi:
        return self.recorder.api

    @property
    def reg(self) -> str:
        return self.registry.host

    def check(self) -> None:
        """Validate every exchange since the last check (see ``ApiRecorder.check``)."""
        self.recorder.check()


def _pull_alpine(daemon: DaemonHarness, registry: FixtureRegistry) -> None:
    source = f"{registry.host}/library/alpine"
    reply = daemon.request("POST", f"/images/create?fromImage={source}&tag=latest")
    assert reply.status == 200, reply.body
    assert b'"error"' not in reply.body, reply.body
    tagged = daemon.request("POST", f"/images/{source}:latest/tag?repo=alpine&tag=latest")
    assert tagged.status == 201, tagged.body


@pytest.fixture(scope="package")
def compat_daemon(registry_with_fixtures: FixtureRegistry) -> Iterator[DaemonHarness]:
    with DaemonHarness() as daemon:
        _pull_alpine(daemon, registry_with_fixtures)
        yield daemon


@pytest.fixture(params=["1.41", "auto"])
def api_version(request: pytest.FixtureRequest) -> str:
    version: str = request.param
    return version


_call_passed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_call_passed] = report.passed and not hasattr(report, "wasxfail")
    return report


@pytest.fixture
def compat(
    request: pytest.FixtureRequest,
    compat_daemon: DaemonHarness,
    registry_with_fixtures: FixtureRegistry,
    api_version: str,
) -> Iterator[Compat]:
    client = docker.DockerClient(base_url=compat_daemon.host, version=api_version, timeout=60)
    negotiated = str(client.api.api_version)
    recorder = ApiRecorder(engine_api(spec_version_for(negotiated)))
    recorder.attach(client)
    session = Compat(client, recorder, compat_daemon, registry_with_fixtures, negotiated)
    try:
        yield session
        if request.node.stash.get(_call_passed, False):
            assert recorder.checked == len(recorder.exchanges), "the test did not call compat.check()"
    finally:
        client.close()
        gc.collect()  # a socket the test left open warns (and fails) here, in its own test
        for row in compat_daemon.request("GET", "/containers/json?all=1").json():
            compat_daemon.request("DELETE", f"/containers/{row['Id']}?force=1")
        if compat_daemon.request("GET", "/images/alpine/json").status == 404:
            _pull_alpine(compat_daemon, registry_with_fixtures)
