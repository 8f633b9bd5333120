"""Signal dispositions and the signal mask of container processes: all default, as runc gives.

Ignored dispositions and the blocked mask survive execve(2) (signal(7)). A runtime written in
Python ignores SIGPIPE and SIGXFSZ itself (CPython does at start-up), glibc's posix_spawn leaves
its internal signals 32 and 33 ignored in the child, and the caller (a monitor, a shell) may
ignore or block others: none of it may reach the container, where an ignored SIGPIPE makes
``yes | head`` run forever.
"""

from __future__ import annotations

import signal

from tests.support.conformance import Lab

_ZERO = "0" * 16


def _signal_fields(status: str) -> tuple[str, str, str]:
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["SigIgn"].strip(), fields["SigBlk"].strip(), fields["SigCgt"].strip()


def _ignore_and_block() -> None:
    """What a careless caller leaves behind: ignored job-control signals, a blocked SIGTERM."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])


def test_run_starts_the_process_with_default_signals_and_no_mask(lab: Lab) -> None:
    result = lab.run(["cat", "/proc/self/status"]).ok()
    assert _signal_fields(result.stdout) == (_ZERO, _ZERO, _ZERO)


def test_create_and_start_give_default_signals_and_no_mask(lab: Lab) -> None:
    ident, bundle = lab.bundle(["sh", "-c", "cat /proc/self/status > /status; sleep 60"])
    lab.cmd("create", "--bundle", str(bundle), ident).ok()
    lab.cmd("start", ident).ok()
    status = bundle / "rootfs" / "status"
    lab.wait_for(lambda: status.exists() and "SigCgt" in status.read_text())
    # sh is the process here: it catches nothing and ignores nothing when not interactive
    assert _signal_fields(status.read_text()) == (_ZERO, _ZERO, _ZERO)


def test_what_the_caller_ignores_or_blocks_does_not_reach_the_container(lab: Lab) -> None:
    ident, bundle = lab.bundle(["cat", "/proc/self/status"])
    result = lab.cmd("run", "--bundle", str(bundle), ident, preexec=_ignore_and_block).ok()
    assert _signal_fields(result.stdout) == (_ZERO, _ZERO, _ZERO)


def test_exec_starts_the_process_with_default_signals_and_no_mask(lab: Lab) -> None:
    ident = lab.start_sleeper()
    result = lab.cmd("exec", ident, "cat", "/proc/self/status", preexec=_ignore_and_block).ok()
    assert _signal_fields(result.stdout) == (_ZERO, _ZERO, _ZERO)


# busybox's `yes` stops on a write error by itself; a writer that ignores write errors only ends
# when SIGPIPE kills it, which an ignored SIGPIPE never does (the command then times out).
_WRITER = "(yes | head -n 1) && (while :; do echo y; done | head -n 1) && echo done"


def test_a_pipe_reader_that_exits_ends_the_writer(lab: Lab) -> None:
    result = lab.run(["sh", "-c", _WRITER], timeout=10).ok()
    assert result.stdout == "y\ny\ndone\n"


def test_a_pipe_reader_that_exits_ends_the_writer_in_exec(lab: Lab) -> None:
    ident = lab.start_sleeper()
    result = lab.cmd("exec", ident, "sh", "-c", _WRITER, timeout=10).ok()
    assert result.stdout == "y\ny\ndone\n"
