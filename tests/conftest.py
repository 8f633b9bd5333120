"""Options, tiers and the leak check shared by every test.

Tiers (docs/architecture.md): ``tests/unit`` needs nothing and runs as an unprivileged user;
``tests/integration`` and ``tests/e2e`` need root and run only with ``--run-root``. A root test
is never skipped silently in a root run: without root it fails.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.support import leaks

RUNTIMES = ("dockyard-runtime", "runc", "crun")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-root", action="store_true", help="run the tests that need root")
    parser.addoption(
        "--runtime",
        action="append",
        choices=RUNTIMES,
        help="OCI runtime(s) for the conformance suite (default: all three)",
    )
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"integration", "e2e"} & set(item.path.parts):
            item.add_marker(pytest.mark.root)  # no root test can forget its marker


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is None:
        return
    if not item.config.getoption("--run-root"):
        pytest.skip("needs root: run with --run-root")
    if os.geteuid() != 0:
        pytest.fail("--run-root was given, but this is not root")


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.getoption("--run-root") and os.geteuid() == 0:
        session.config.stash[_baseline] = leaks.snapshot()


_baseline = pytest.StashKey[set[str]]()
_leaked = pytest.StashKey[list[str]]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    baseline = session.config.stash.get(_baseline, None)
    if baseline is None:
        return
    # Monitors and daemons stopped by the last test's teardown may take a moment to be reaped.
    deadline = time.monotonic() + 5
    left = sorted(leaks.snapshot() - baseline)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = sorted(leaks.snapshot() - baseline)
    session.config.stash[_leaked] = left
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left = terminalreporter.config.stash.get(_leaked, [])
    if left:
        terminalreporter.section("leak check: left behind by this session", sep="!", red=True)
        for line in left:
            terminalreporter.line(line, red=True)
