"""The zygote's warm-up runs the monitor's code, start to exit record, without side effects.

The warm-up reaps a child with ``waitpid(-1)`` (the supervisor's own loop does) and installs
and restores signal handlers, so each test runs it in a forked child of the test process and
reads the verdict from the child's exit status and a pipe.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from dockyard.monitor import supervisor, warmup


def _in_child(check: Callable[[], str]) -> str:
    """Run ``check`` in a forked child; its returned text (or the exception) comes back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            os.write(write_end, check().encode())
            status = 0
        except BaseException as exc:  # the child reports, never returns into pytest
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


def test_warm_up_runs_and_leaves_its_scratch_directory_and_fds_as_they_were(tmp_path: Path) -> None:
    def check() -> str:
        fds_before = sorted(os.listdir("/proc/self/fd"))
        warmup.warm_up(str(tmp_path), rounds=2)
        fds_after = sorted(os.listdir("/proc/self/fd"))
        return f"{sorted(os.listdir(tmp_path))} {fds_before == fds_after}"

    assert _in_child(check) == "[] True"


def test_warm_up_restores_signal_dispositions_and_the_wakeup_fd(tmp_path: Path) -> None:
    def check() -> str:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)
        warmup.warm_up(str(tmp_path), rounds=1)
        dispositions = [signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGCHLD, signal.SIGTERM)]
        return f"{dispositions} {signal.set_wakeup_fd(-1) == write_end}"

    expected = f"{[signal.SIG_IGN, signal.SIG_DFL, signal.SIG_DFL]} True"
    assert _in_child(check) == expected


def test_warm_up_drives_a_supervisor_to_its_exit_record(tmp_path: Path) -> None:
    """The rounds go through start, output, reaping and the exit record, as a monitor does."""

    def check() -> str:
        seen: list[str] = []
        finish = supervisor.Supervisor._finish

        def spy(self: supervisor.Supervisor) -> None:
            finish(self)
            assert self.record is not None
            seen.append(f"{self.status} {self.record.exit_code} {bool(self.started_ns)}")

        supervisor.Supervisor._finish = spy  # type: ignore[method-assign]
        warmup.warm_up(str(tmp_path), rounds=2)
        return " | ".join(seen)

    assert _in_child(check) == "exited 3 True | exited 3 True"
