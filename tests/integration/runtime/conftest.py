"""The conformance suite's fixtures: one ``Lab`` per test and runtime (``--runtime``, default all three)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RUNTIMES
from tests.support.conformance import Lab


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lab" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--runtime") or list(RUNTIMES)
        metafunc.parametrize("lab", chosen, indirect=True)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A runtime with its own state root, log, bundles and cgroup parent, cleaned up after."""
    world = Lab(request.param)
    try:
        yield world
    finally:
        world.cleanup()
