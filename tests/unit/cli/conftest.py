"""Fixtures for the CLI's tests: a fake Engine API server and an in-process ``dockyard``."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.cli import main
from dockyard.cli.commands import base
from tests.unit.cli.fakeapi import FakeEngine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    with FakeEngine(tmp_path) as fake:
        yield fake


class Result:
    """What one ``dockyard`` invocation did."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err

    def __repr__(self) -> str:
        return f"Result(status={self.status}, out={self.out!r}, err={self.err!r})"


class PipeStdin(io.TextIOWrapper):
    """A stdin backed by a real pipe (the stream pump selects on its file descriptor)."""


@pytest.fixture
def dockyard(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    monkeypatch.setattr(base, "terminal_width", lambda: 80)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    home = tmp_path / "home"
    home.mkdir()

    def run(*argv: str, stdin: bytes | None = None, environ: dict[str, str] | None = None) -> Result:
        env = {"DOCKYARD_HOST": engine.host, "HOME": str(home), "DOCKYARD_AUTOSTART": "0", "PATH": "/usr/bin"}
        env.update(environ or {})
        if stdin is not None:
            read_fd, write_fd = os.pipe()
            os.write(write_fd, stdin)
            os.close(write_fd)
            monkeypatch.setattr(sys, "stdin", PipeStdin(os.fdopen(read_fd, "rb")))
        try:
            status = main.dispatch(list(argv), env)
        finally:
            if stdin is not None:
                sys.stdin.close()
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run
