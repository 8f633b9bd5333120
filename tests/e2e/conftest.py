"""Shared fixtures of the end-to-end tier: one fixture registry per session, and ordered walks.

Every e2e test needs root and runs only with ``--run-root`` (``tests/conftest.py`` marks it).

**The registry.** ``registry_with_fixtures`` (``tests.support.registry``) is a real
``docker-registry`` on 127.0.0.1 serving the busybox-built fixture images (``library/alpine``,
``library/hello-world``, ``library/busybox``, ``dockyard/big``...). It is started once per session
and shared: pushing the fixtures takes seconds, and no test writes to it.

**Walks.** A tutorial is a sequence: ``start <prefix>`` needs the container that ``run -it``
made. A test class whose attribute ``walk = True`` is run as such a sequence, one test method
per step, so each step passes, fails or is marked xfail on its own. When a step fails for a
reason nobody expected, the following steps of the same class and parameter are skipped with
the failed step's name (their preconditions are gone); a step that fails as an expected
``xfail`` does not stop the walk, because such a step still does its work before asserting.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.registry import registry_with_fixtures

__all__ = ["registry_with_fixtures"]

_failed_steps: dict[tuple[str, tuple[Any, ...]], str] = {}


def _walk_key(item: pytest.Item) -> tuple[str, tuple[Any, ...]] | None:
    cls = getattr(item, "cls", None)
    if cls is None or not getattr(cls, "walk", False):
        return None
    callspec = getattr(item, "callspec", None)
    params = tuple(sorted(callspec.params.items(), key=lambda kv: kv[0])) if callspec else ()
    return (f"{item.path}::{cls.__name__}", tuple(str(v) for v in params))


def pytest_runtest_setup(item: pytest.Item) -> None:
    key = _walk_key(item)
    if key is not None and key in _failed_steps:
        pytest.skip(f"an earlier step of this walk failed: {_failed_steps[key]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    key = _walk_key(item)
    expected = item.get_closest_marker("xfail") is not None  # failing or fixed: the walk goes on
    if key is not None and report.failed and not expected:
        _failed_steps.setdefault(key, getattr(item, "originalname", item.name))
    return report
