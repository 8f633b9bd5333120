"""The zygote's ballast: after it, new objects of every size class are carved one after the
other from fresh obmalloc pools (not dropped into holes), and glibc has (next to) no free
chunks left outside the top of its heap.

Each check runs in a fresh interpreter: the ballast stays for the life of its process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dockyard

SRC = str(Path(dockyard.__file__).resolve().parent.parent)

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11) or sys.maxsize <= 2**32, reason="obmalloc's 3.11 64-bit pool layout"
)


def _run(code: str) -> str:
    prelude = f"import sys; sys.path.insert(0, {SRC!r})\nfrom dockyard.monitor import ballast\n"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


_ADJACENT = """
sizes = list(range(16, 513, 16))
pairs = [(ballast._one(size), ballast._one(size)) for size in sizes]
print(sum(id(b) - id(a) == size for (a, b), size in zip(pairs, sizes)), len(sizes))
"""
_HOLES = """
junk = [bytes(n % 400) for n in range(20000)]
del junk[::3]
"""


def test_after_the_ballast_consecutive_objects_of_each_size_are_neighbours() -> None:
    adjacent, total = _run(_HOLES + "ballast.fill()\n" + _ADJACENT).split()
    # Not every class: the check's own objects (ints, ctypes) may open a pool or two first.
    assert int(adjacent) >= int(total) * 3 // 4


def test_without_the_ballast_they_fill_holes_instead() -> None:
    """The same check fails without ``fill``: it measures something."""
    adjacent, total = _run(_HOLES + _ADJACENT).split()
    assert int(adjacent) < int(total) // 2


def test_the_heap_is_drained_and_a_second_fill_does_nothing() -> None:
    code = """
loose = ballast._loose_bytes
blobs = [bytes(600 + n) for n in range(300)]
del blobs[::2]
before = loose()
ballast.fill()
after = loose()
kept = [len(part) for part in ballast._kept]
ballast.fill()
print(before, after, kept == [len(part) for part in ballast._kept])
"""
    before, after, same = _run(code).split()
    assert int(before) > 4096
    assert int(after) < int(before) // 2
    assert same == "True"
