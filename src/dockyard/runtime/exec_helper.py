"""The sealed exec helper: the last program that runs before the container's own.

Why it exists (CVE-2019-5736, reliability-security.md section 2.1). ``/proc/self/exe`` of a
Python process is the host's ``python3``. If a Python process of ours were visible and dumpable
inside a container's pid namespace, a process there could open ``/proc/<pid>/exe`` with
``O_PATH`` and later reopen it for writing, overwriting the host interpreter. A container whose
``/bin/sh`` is ``#!/proc/self/exe`` makes the kernel run *the exec'ing process's own* binary as
the interpreter. So the final ``execve`` into the container is never made by Python: the runtime
writes a tiny static ELF into a ``memfd_create(MFD_CLOEXEC|MFD_ALLOW_SEALING)``, seals it
(``F_SEAL_SEAL|SHRINK|GROW|WRITE``) and ``fexecve``s it. The process that waits for ``start``
is then this helper, whose ``/proc/self/exe`` is an anonymous, sealed, read-only memfd: runc's
``exec.fifo`` design with its ``exeseal`` memfd.

The program (``exec_helper_x86_64.s`` beside this file has the documented assembly; a unit
test re-assembles it and compares the bytes) does, in order:

1. ``prctl(PR_SET_DUMPABLE, 0)``, its first instruction;
2. every signal (1-64) back to ``SIG_DFL`` and an empty signal mask, as runc's processes start:
   ignored dispositions and the mask survive ``execve`` (signal(7)), and whoever started us
   leaves some behind (CPython ignores SIGPIPE and SIGXFSZ; glibc's ``posix_spawn`` ignores its
   internal signals 32 and 33 in the child; a caller may ignore or block others). A container
   whose SIGPIPE is ignored never ends ``yes | head``;
3. mode ``F``: ``open("/proc/self/fd/3", O_WRONLY|O_CLOEXEC)`` on the exec fifo's ``O_PATH``
   fd, which blocks until ``start`` opens the fifo for reading, then ``write(fd, "0", 1)`` and
   ``close(3)``; mode ``T``: ``ioctl(0, TIOCSCTTY, 0)`` (the pty of ``exec --tty``);
4. ``execve(argv[1], &argv[2], envp)``;
5. on any failure: ``dockyard-runtime: exec helper: errno NNN`` on fd 2, ``exit_group(127)``.

argv[0] carries the mode, so a ``#!/proc/self/exe`` script (argv[0] = "/proc/self/exe") makes
the helper refuse with EINVAL instead of looping.

On machines without helper bytes (not x86_64) ``helper_fd`` returns None and callers exec
directly from Python, which is weaker: see ``init_process``.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["MODE_EXEC", "MODE_FIFO", "MODE_TTY", "helper_argv", "helper_fd"]

MODE_EXEC = "X"
MODE_TTY = "T"
MODE_FIFO = "F"

# The .text of exec_helper_x86_64.s (as --64; objcopy -O binary -j .text), 403 bytes.
_CODE_X86_64 = bytes.fromhex(
    "b89d000000bf0400000031f60f0541bc01000000b80d0000004489e7488d355001000031d241ba080000000f0541ffc4"
    "4183fc4076deb80e000000bf02000000488d352c01000031d241ba080000000f0548833c2402727e488b4424080fb600"
    "3c5874563c54743e3c46756ab802000000488d3dc5000000be010008000f0585c0785889c7b801000000488d35bc0000"
    "00ba010000000f05b803000000bf030000000f05eb14b81000000031ffbe0e54000031d20f0585c07821488b0c24488b"
    "7c2410488d742418488d54cc10b83b0000000f05eb05b8eafffffff7d8c64424fb0a488d7c24fab90a00000041b80300"
    "000031d2f7f180c230881748ffcf41ffc875efb801000000bf02000000488d353a000000ba250000000f05b801000000"
    "bf02000000488d7424f8ba040000000f05b8e7000000bf7f0000000f052f70726f632f73656c662f66642f330030646f"
    "636b796172642d72756e74696d653a20657865632068656c7065723a206572726e6f2000000000000000000000000000"
    "00000000000000000000000000000000000000"
)

_BASE = 0x400000
_HEADERS = 64 + 56  # one ELF64 header and one program header


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def elf_image(code: bytes = _CODE_X86_64) -> bytes:
    """A static ELF64 executable for x86_64 whose one PT_LOAD segment (R+X) holds ``code``.

    Layout per the System V gABI: the ELF header (e_ident, ET_EXEC, EM_X86_64, entry right
    after the headers), then one program header mapping the whole file at 0x400000.
    """
    size = _HEADERS + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, little-endian, version 1, SYSV
    header = (
        ident
        + _u(2, 2)  # e_type ET_EXEC
        + _u(62, 2)  # e_machine EM_X86_64
        + _u(1, 4)  # e_version
        + _u(_BASE + _HEADERS, 8)  # e_entry
        + _u(64, 8)  # e_phoff
        + _u(0, 8)  # e_shoff: no sections
        + _u(0, 4)  # e_flags
        + _u(64, 2)  # e_ehsize
        + _u(56, 2)  # e_phentsize
        + _u(1, 2)  # e_phnum
        + _u(64, 2)  # e_shentsize
        + _u(0, 2)  # e_shnum
        + _u(0, 2)  # e_shstrndx
    )
    program = (
        _u(1, 4)  # p_type PT_LOAD
        + _u(5, 4)  # p_flags PF_R | PF_X
        + _u(0, 8)  # p_offset
        + _u(_BASE, 8)  # p_vaddr
        + _u(_BASE, 8)  # p_paddr
        + _u(size, 8)  # p_filesz
        + _u(size, 8)  # p_memsz
        + _u(0x1000, 8)  # p_align
    )
    return header + program + code


_MFD_CLOEXEC = 0x0001
_MFD_ALLOW_SEALING = 0x0002
_MFD_EXEC = 0x0010  # Linux 6.3+: executable even under vm.memfd_noexec=1
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def helper_fd() -> int | None:
    """A close-on-exec, sealed memfd holding the helper; None where there is no helper.

    Raises:
        OSError: memfd_create, write or sealing failed.
    """
    if os.uname().machine != "x86_64":
        return None  # no helper bytes for this machine: callers fall back to a Python exec
    flags = _MFD_CLOEXEC | _MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("dockyard-exec", flags | _MFD_EXEC)
    except OSError:
        fd = os.memfd_create("dockyard-exec", flags)  # kernels before 6.3 refuse MFD_EXEC
    try:
        image = elf_image()
        if os.write(fd, image) != len(image):
            raise OSError(5, "exec helper: short write to memfd")
        os.fchmod(fd, 0o555)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def helper_argv(mode: str, path: str, args: list[str]) -> list[str]:
    """The helper's argv: ``[mode, path, *args]`` (args[0] is the program's own argv[0])."""
    return [mode, path, *args]
