"""The zygote offers its memory to kernel same-page merging per mapping, so that monitors
inherit the offer through fork and nothing it executes (runtimes, containers) does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dockyard

SRC = str(Path(dockyard.__file__).resolve().parent.parent)

pytestmark = pytest.mark.skipif(not Path("/sys/kernel/mm/ksm").is_dir(), reason="no KSM in this kernel")

_CHECK = f"""
import os, subprocess, sys
sys.path.insert(0, {SRC!r})
from dockyard.monitor import zygote

def merging(smaps):
    names, marked = [], []
    for line in smaps.splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            names.append(fields[5] if len(fields) > 5 else "(anonymous)")
        elif line.startswith("VmFlags:") and " mg" in line:
            marked.append(names[-1])
    return marked

zygote._offer_to_ksm()
with open("/proc/self/smaps") as file:
    ours = merging(file.read())
pid = os.fork()
if pid == 0:
    with open("/proc/self/smaps") as file:
        os._exit(0 if merging(file.read()) == ours else 1)
_, status = os.waitpid(pid, 0)
theirs = merging(subprocess.run(["cat", "/proc/self/smaps"], capture_output=True, text=True).stdout)
print("[heap]" in ours, "(anonymous)" in ours, "[stack]" in ours, os.waitstatus_to_exitcode(status), theirs)
"""


def test_private_memory_is_offered_to_ksm_through_fork_but_not_exec() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _CHECK], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    heap, anonymous, stack, forked, executed = done.stdout.split(maxsplit=4)
    assert (heap, anonymous, stack) == ("True", "True", "False")
    assert forked == "0"  # a forked monitor keeps every mark
    assert executed.strip() == "[]"  # a program it runs starts with none
