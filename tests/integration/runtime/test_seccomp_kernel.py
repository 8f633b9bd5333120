"""runtime.seccomp and runtime.capabilities against the real kernel (root), in forked children.

A filter or a dropped capability cannot be undone, so each case runs in a child process that
reports what the kernel did through a pipe and exits; the test process keeps its privileges.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.engine import seccomp_profile
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import capabilities, seccomp
from dockyard.runtime.seccomp_syscalls import table
from dockyard.util import libc
from tests.support.bundles import DEFAULT_CAPS

PR_SET_NO_NEW_PRIVS = 38
NR = table("SCMP_ARCH_X86_64")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers below are x86_64's")


def in_child(body: Callable[[], str]) -> str:
    """Run ``body`` in a forked child and return what it returned (or its exception)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(read_end)
            result = body()
        except BaseException as exc:
            result, code = f"error: {exc!r}", 1
        try:
            os.write(write_end, result.encode())
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        assert select.select([read_end], [], [], 20)[0], "the child did not answer"
        chunks = []
        while data := os.read(read_end, 65536):
            chunks.append(data)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def _errno_of(call: Callable[[], object]) -> int:
    try:
        call()
    except OSError as exc:
        return exc.errno or 0
    return 0


def _raw(nr: int, *args: int) -> int:
    """A raw syscall; the errno it failed with, or 0."""
    result = _libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if result == -1 else 0


def _status(field: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1]
    raise AssertionError(field)


def _docker_program(caps: list[str]) -> bytes:
    profile = seccomp_profile.default_profile(caps)
    return seccomp.compile(profile)


def test_custom_errno_and_seccomp_mode(tmp_path: Path) -> None:
    profile = rs.LinuxSeccomp(
        default_action="SCMP_ACT_ALLOW",
        architectures=["SCMP_ARCH_X86_64"],
        syscalls=[
            rs.LinuxSyscall(names=["mkdir", "mkdirat"], action="SCMP_ACT_ERRNO", errno_ret=errno.EROFS)
        ],
    )
    program = seccomp.compile(profile)

    def body() -> str:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        assert seccomp.install(program, seccomp.filter_flags(profile)) is None
        denied = _errno_of(lambda: os.mkdir(tmp_path / "x"))
        return f"{denied} {_status('Seccomp')} {os.path.exists(tmp_path / 'x')}"

    assert in_child(body) == f"{errno.EROFS} 2 False"


def test_docker_default_profile_in_the_kernel() -> None:
    program = _docker_program(DEFAULT_CAPS)

    def body() -> str:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        seccomp.install(program, [])
        results = {
            "unshare": _errno_of(lambda: libc.unshare(libc.CLONE_NEWNS)),
            "clone3": _raw(NR["clone3"], 0, 0),
            "vsock": _errno_of(lambda: socket.socket(40, socket.SOCK_STREAM)),
            "inet": _errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()),
            "personality": _raw(NR["personality"], 1),
            "new": _raw(1000),
            "getpid": 0 if os.getpid() > 0 else 1,
        }
        return " ".join(f"{k}={v}" for k, v in results.items())

    assert in_child(body) == (
        f"unshare={errno.EPERM} clone3={errno.ENOSYS} vsock={errno.EPERM} inet=0 "
        f"personality={errno.EPERM} new={errno.ENOSYS} getpid=0"
    )


def test_fork_still_works_under_the_default_profile() -> None:
    program = _docker_program(DEFAULT_CAPS)

    def body() -> str:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        seccomp.install(program, [])
        pid = os.fork()  # glibc's clone() without namespace flags
        if pid == 0:
            os._exit(7)
        _pid, status = os.waitpid(pid, 0)
        return str(os.WEXITSTATUS(status))

    assert in_child(body) == "7"


def test_without_no_new_privs_a_privileged_process_may_install() -> None:
    program = _docker_program(DEFAULT_CAPS)

    def body() -> str:
        seccomp.install(program, [])  # root keeps CAP_SYS_ADMIN here, as runc's init does
        return f"{_status('NoNewPrivs')} {_status('Seccomp')}"

    assert in_child(body) == "0 2"


def test_an_unprivileged_process_needs_no_new_privs() -> None:
    program = _docker_program(DEFAULT_CAPS)

    def body() -> str:
        os.setgid(65534)
        os.setuid(65534)
        return str(_errno_of(lambda: seccomp.install(program, [])))

    assert in_child(body) == str(errno.EACCES)


def test_flags_reach_the_kernel_and_a_listener_fd_comes_back() -> None:
    profile = rs.LinuxSeccomp(
        default_action="SCMP_ACT_ALLOW",
        listener_path="/run/dyt-unused.sock",
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        syscalls=[rs.LinuxSyscall(names=["mkdir"], action="SCMP_ACT_NOTIFY")],
    )
    program = seccomp.compile(profile)

    def body() -> str:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        fd = seccomp.install(program, seccomp.filter_flags(profile))
        assert fd is not None
        return os.readlink(f"/proc/self/fd/{fd}")

    assert in_child(body) == "anon_inode:seccomp notify"


def test_prctl_fallback_installs_the_same_program() -> None:
    program = _docker_program(DEFAULT_CAPS)

    def body() -> str:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
        libc.prctl_seccomp_filter(program)
        return f"{_status('Seccomp')} {_errno_of(lambda: libc.unshare(libc.CLONE_NEWNS))}"

    assert in_child(body) == f"2 {errno.EPERM}"


# --- capabilities --------------------------------------------------------------------------------


def _caps_child(caps: rs.LinuxCapabilities, uid: int) -> str:
    def body() -> str:
        capabilities.drop_bounding(capabilities.to_mask(caps.bounding))
        capabilities.keep_caps(True)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        capabilities.keep_caps(False)
        capabilities.apply(caps)
        return " ".join(_status(f) for f in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"))

    return in_child(body)


def test_docker_default_capabilities_as_root() -> None:
    caps = rs.LinuxCapabilities(bounding=DEFAULT_CAPS, effective=DEFAULT_CAPS, permitted=DEFAULT_CAPS)
    masks = "00000000a80425fb"
    assert _caps_child(caps, 0) == f"{masks} {masks} {masks} 0000000000000000 0000000000000000"


def test_capabilities_survive_the_switch_to_another_uid() -> None:
    caps = rs.LinuxCapabilities(bounding=DEFAULT_CAPS, effective=["CAP_KILL"], permitted=["CAP_KILL"])
    assert (
        _caps_child(caps, 1000)
        == "00000000a80425fb 0000000000000020 0000000000000020 0000000000000000 0000000000000000"
    )


def test_ambient_capabilities_are_raised_when_inheritable_and_permitted() -> None:
    wanted = ["CAP_NET_BIND_SERVICE"]
    caps = rs.LinuxCapabilities(
        bounding=DEFAULT_CAPS,
        effective=wanted,
        permitted=wanted,
        inheritable=wanted,
        ambient=[*wanted, "CAP_KILL"],
    )
    # CAP_KILL is neither permitted nor inheritable: skipped, as runc only warns about it.
    assert _caps_child(caps, 1000).split()[3:] == ["0000000000000400", "0000000000000400"]


def test_capabilities_then_seccomp_in_runcs_order() -> None:
    program = _docker_program(DEFAULT_CAPS)
    caps = rs.LinuxCapabilities(bounding=DEFAULT_CAPS, effective=DEFAULT_CAPS, permitted=DEFAULT_CAPS)

    def body() -> str:
        capabilities.drop_bounding(capabilities.to_mask(caps.bounding))
        capabilities.apply(caps)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1)  # CAP_SYS_ADMIN is gone: the filter needs NNP now
        seccomp.install(program, [])
        return (
            f"{_status('CapEff')} {_status('Seccomp')} {_errno_of(lambda: libc.unshare(libc.CLONE_NEWUTS))}"
        )

    assert in_child(body) == f"00000000a80425fb 2 {errno.EPERM}"
