"""The command-line clients the lab is walked with, and how their output is read.

Three clients drive the same daemon: Debian's ``docker`` 20.10 (``/usr/bin/docker``, API 1.41),
the ``docker`` 28.2 client in ``/usr/local/bin`` when the machine has it (it negotiates down to
our API 1.45), and our own ``dockyard``. The docker clients find the daemon through
``DOCKER_HOST``; ``dockyard`` through ``DOCKYARD_HOST`` (and ``-H`` where a test says so). Each
client gets an empty ``DOCKER_CONFIG`` directory (under the daemon's root), so nothing in
``~/.docker`` (detach keys, credentials, a context) changes what the test sees.

Reading the output: docker prints tables with Go's ``text/tabwriter`` (cells padded to the
widest cell plus three spaces, widths counted in runes), so a row is cut at the offsets where
the header's column names start. Relative times and sizes follow ``github.com/docker/go-units``:
``HumanDuration`` is ``dockyard.util.humantime`` (its own tests pin it to go-units' rules), and
``HumanSizeWithPrecision(size, 3)`` is reimplemented here from its documented rules, so the
tests can compute what a correct client must print.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.daemon import DaemonHarness

__all__ = [
    "CLIS",
    "Cli",
    "Result",
    "available_clis",
    "human_size",
    "parse_table",
]

DEBIAN_DOCKER = "/usr/bin/docker"
MODERN_DOCKER = "/usr/local/bin/docker"
DOCKYARD = str(Path(sys.executable).parent / "dockyard")


@dataclass(frozen=True)
class Result:
    """One finished command: its argv, exit status and both streams (decoded)."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def ok(self) -> Result:
        """Assert exit status 0; return self for chaining."""
        assert self.rc == 0, f"{' '.join(self.argv)} exited {self.rc}\n{self.stdout}\n{self.stderr}"
        return self

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@dataclass(frozen=True)
class Cli:
    """A client program and how it is pointed at a daemon."""

    name: str
    program: str
    host_variable: str

    @property
    def is_docker(self) -> bool:
        return self.name.startswith("docker")

    def env(self, daemon: DaemonHarness) -> dict[str, str]:
        env = dict(os.environ)
        for name in (
            "DOCKER_HOST",
            "DOCKYARD_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
        ):
            env.pop(name, None)
        env[self.host_variable] = daemon.host
        config = daemon.root / "client-config"  # empty, and removed with the daemon's root
        config.mkdir(exist_ok=True)
        env["DOCKER_CONFIG"] = str(config)
        env["NO_COLOR"] = "1"
        return env

    def argv(self, *args: str) -> list[str]:
        return [self.program, *args]

    def run(
        self, daemon: DaemonHarness, *args: str, stdin: bytes | None = None, timeout: float = 60
    ) -> Result:
        """Run ``<program> args...`` against ``daemon`` without a terminal; never raises on status."""
        argv = self.argv(*args)
        done = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=self.env(daemon),
            timeout=timeout,
            check=False,
        )
        return Result(tuple(argv), done.returncode, done.stdout.decode(errors="replace"),
                      done.stderr.decode(errors="replace"))  # fmt: skip

    def __str__(self) -> str:
        return self.name


CLIS = (
    Cli("docker-20.10", DEBIAN_DOCKER, "DOCKER_HOST"),
    Cli("docker-28.2", MODERN_DOCKER, "DOCKER_HOST"),
    Cli("dockyard", DOCKYARD, "DOCKYARD_HOST"),
)


def available_clis() -> list[Cli]:
    """The clients present on this machine (Debian's docker and dockyard must be: a test checks)."""
    return [cli for cli in CLIS if os.access(cli.program, os.X_OK)]


_COLUMN = re.compile(r"\S+(?: \S+)*")


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a docker table as dicts keyed by the header's column names.

    A column starts where its name starts in the header; its cells run to the next column's start
    (the last column to the end of the line). Header names are runs of words with single spaces
    (``CONTAINER ID``), separated by at least three spaces of padding.
    """
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    columns = [(m.group(), m.start()) for m in _COLUMN.finditer(header)]
    assert columns, f"no header in {text!r}"
    rows = []
    for line in lines[1:]:
        row = {}
        for index, (name, start) in enumerate(columns):
            end = columns[index + 1][1] if index + 1 < len(columns) else None
            row[name] = line[start:end].strip()
        rows.append(row)
    return rows


def human_size(size: float) -> str:
    """go-units ``HumanSizeWithPrecision(size, 3)``: decimal units, ``%.3g`` (``1.98MB``, ``13.3kB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.3g}{units[index]}"
