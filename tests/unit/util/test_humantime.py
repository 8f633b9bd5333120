"""``util.humantime``: docker's HumanDuration, pinned to go-units' own expected outputs.

It lives with the engine's tests because the engine (container ``Status``) and the CLI (CREATED
columns) are its two users; the cases are those of docker/go-units ``duration_test.go``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockyard.engine.container import ContainerState, ContainerStatus
from dockyard.engine.details import status_text
from dockyard.util.humantime import human_duration

MINUTE, HOUR = 60, 3600
DAY = 24 * HOUR
WEEK, MONTH, YEAR = 7 * DAY, 30 * DAY, 365 * DAY

CASES = [
    (0.45, "Less than a second"),
    (1, "1 second"),
    (1.999, "1 second"),
    (45, "45 seconds"),
    (59, "59 seconds"),
    (60, "About a minute"),
    (119, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE + 40, "35 minutes"),
    (59 * MINUTE, "59 minutes"),
    (HOUR, "About an hour"),
    (HOUR + 29 * MINUTE, "About an hour"),
    (HOUR + 31 * MINUTE, "2 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (DAY, "24 hours"),
    (DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (2 * WEEK, "2 weeks"),
    (2 * WEEK + 4 * DAY, "2 weeks"),
    (MONTH, "4 weeks"),
    (MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"),
    (3 * MONTH + WEEK, "3 months"),
    (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"),
    (3 * YEAR + 2 * MONTH, "3 years"),
]


@pytest.mark.parametrize(("seconds", "text"), CASES, ids=[text for _, text in CASES])
def test_human_duration_words_it_as_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_a_clock_that_went_backwards_reads_less_than_a_second() -> None:
    assert human_duration(-5) == "Less than a second"


def test_the_engine_and_the_cli_share_one_implementation() -> None:
    from dockyard.cli import render

    assert render.human_duration is human_duration
    state = ContainerState(status=ContainerStatus.EXITED, exit_code=3)
    assert status_text(state, 1e9, started=1.0, finished=1e9 - 2 * WEEK) == "Exited (3) 2 weeks ago"


def test_importing_it_loads_nothing_else() -> None:
    # The CLI imports it at every start: it must stay free of imports (not even `typing`).
    probe = "import sys; before = set(sys.modules); import dockyard.util.humantime; " + (
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    argv = [sys.executable, "-c", probe]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    assert set(done.stdout.split()) <= {"dockyard", "dockyard.util", "dockyard.util.humantime", "__future__"}
