"""The sealed exec helper: its bytes match its documented assembly, and it behaves as documented."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.runtime import exec_helper

_ASM = Path(exec_helper.__file__).with_name("exec_helper_x86_64.s")
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the helper exists for x86_64 only")


def test_bytes_are_the_assembled_source(tmp_path: Path) -> None:
    if shutil.which("as") is None or shutil.which("objcopy") is None:
        pytest.skip("binutils (as, objcopy) not installed")
    obj, raw = tmp_path / "h.o", tmp_path / "h.bin"
    subprocess.run(["as", "--64", "-o", str(obj), str(_ASM)], check=True, timeout=60)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(raw)], check=True, timeout=60)
    assert raw.read_bytes() == exec_helper._CODE_X86_64


def test_the_memfd_is_sealed_and_not_writable() -> None:
    import fcntl

    fd = exec_helper.helper_fd()
    assert fd is not None
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        for seal in (fcntl.F_SEAL_SEAL, fcntl.F_SEAL_WRITE, fcntl.F_SEAL_GROW, fcntl.F_SEAL_SHRINK):
            assert seals & seal
        with pytest.raises(PermissionError):
            os.write(fd, b"x")
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)


def _run_helper(
    argv: list[str], *, pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    fd = exec_helper.helper_fd()
    assert fd is not None
    try:
        return subprocess.run(
            argv, executable=f"/proc/self/fd/{fd}", pass_fds=(fd, *pass_fds), env=env or {"DYT": "1"},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        os.close(fd)


def test_immediate_mode_execs_with_argv_and_env() -> None:
    result = _run_helper(
        ["X", "/bin/sh", "argv0", "-c", 'echo "$0 $DYT"; grep -c . /proc/self/status >/dev/null']
    )
    assert result.returncode == 0, result
    assert result.stdout == "argv0 1\n"


def _ignore_and_block() -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGUSR2, signal.SIGCHLD])


def test_the_command_starts_with_default_signals_and_an_empty_mask() -> None:
    # Ignored dispositions and the mask survive execve(2); the helper resets both, whatever
    # its starter left behind (Python ignores SIGPIPE and SIGXFSZ; glibc's posix_spawn, 32 and 33).
    fd = exec_helper.helper_fd()
    assert fd is not None
    try:
        result = subprocess.run(
            ["X", "/bin/cat", "cat", "/proc/self/status"], executable=f"/proc/self/fd/{fd}", pass_fds=(fd,),
            preexec_fn=_ignore_and_block, restore_signals=False, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        os.close(fd)
    assert result.returncode == 0, result
    fields = dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)
    assert (fields["SigIgn"], fields["SigBlk"], fields["SigCgt"]) == ("0" * 16,) * 3


def test_exec_failure_reports_errno_and_exits_127() -> None:
    result = _run_helper(["X", "/nonexistent", "x"])
    assert result.returncode == 127
    assert result.stderr == "dockyard-runtime: exec helper: errno 002\n"


def test_unknown_mode_is_refused() -> None:
    # A "#!/proc/self/exe" script makes the kernel run the helper with argv[0] "/proc/self/exe".
    result = _run_helper(["/proc/self/exe", "/bin/sh"])
    assert result.returncode == 127
    assert result.stderr.endswith("errno 022\n")


def test_fifo_mode_waits_for_a_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "exec.fifo"
    os.mkfifo(fifo, 0o600)
    path_fd = os.open(fifo, os.O_PATH)
    helper = exec_helper.helper_fd()
    assert helper is not None
    out = tmp_path / "out"
    pid = os.fork()
    if pid == 0:  # the child: the helper's fd 3 must be the fifo's O_PATH fd
        os.dup2(path_fd, 3)
        moved = os.dup2(helper, 4, inheritable=False)
        os.closerange(5, 1024)
        os.execve(
            moved,
            ["F", "/bin/sh", "sh", "-c", f"readlink /proc/self/fd/3 > {out} || echo closed > {out}"],
            {},
        )
    os.close(helper)
    os.close(path_fd)
    try:
        import time

        time.sleep(0.2)
        assert not out.exists()  # blocked in open(2) until a reader appears
        reader = os.open(fifo, os.O_RDONLY)
        assert os.read(reader, 1) == b"0"
        os.close(reader)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert out.read_text() == "closed\n"  # the helper closed the fifo's fd before exec
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_tty_mode_fails_without_a_terminal() -> None:
    result = _run_helper(["T", "/bin/true", "true"])
    assert result.returncode == 127
    assert result.stderr.endswith("errno 025\n")  # ENOTTY
