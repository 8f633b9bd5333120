"""Loading a cgroup v2 device filter with bpf(2) and attaching it to the container's directory.

cgroup v2 enforces device rules through a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program
(``cgroups_devices.ebpf_program`` writes it). This module is the kernel side: ``BPF_PROG_LOAD``
(the verifier checks the program; its log is returned in the error if it refuses),
``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_MULTI`` on an ``O_DIRECTORY`` fd of the cgroup, and, on
``update``, ``BPF_PROG_QUERY`` + ``BPF_PROG_DETACH`` of the programs attached before. As in
runc, the new program is attached *before* the old ones are detached, so there is no moment
without a filter. The attachment holds a reference to the program, so the program fd is closed
right after attaching; the filter lives as long as the cgroup.

The layouts of ``union bpf_attr`` used here are those of include/uapi/linux/bpf.h; every unused
byte is zero, as the kernel requires (``bpf_check_uarg_tail_zero``). This module needs root (or
CAP_BPF with CAP_SYS_ADMIN); it is imported only when a v2 device filter is set.
"""

from __future__ import annotations

import ctypes
import os
import struct

from dockyard.runtime.cgroups_fs import CgroupError, describe, open_dir

__all__ = ["attach_device_filter", "attached_programs"]

# include/uapi/linux/bpf.h
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# bpf(2) by machine (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h).
_BPF_NR = {"x86_64": 321, "aarch64": 280, "i686": 357, "armv7l": 386, "armv8l": 386}

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_ATTR_SIZE = 128


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _BPF_NR.get(os.uname().machine)
    if nr is None:
        raise OSError(38, "bpf: no syscall number known for this machine")
    result: int = _syscall(nr, cmd, attr, ctypes.sizeof(attr))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _attr(fmt: str, *values: object) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *values)
    return buf


def _load(program: bytes) -> int:
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    for log_level in (0, 1):
        # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
        attr = _attr(
            "=IIQQIIQ",
            BPF_PROG_TYPE_CGROUP_DEVICE,
            len(program) // 8,
            ctypes.addressof(insns),
            ctypes.addressof(license_),
            log_level,
            len(log) if log_level else 0,
            ctypes.addressof(log) if log_level else 0,
        )
        try:
            return _bpf(BPF_PROG_LOAD, attr)
        except OSError as exc:
            if log_level:
                detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
                raise CgroupError(f"load device filter: {describe(exc)}: {' / '.join(detail)}") from exc
    raise AssertionError("unreachable")


def attached_programs(cgroup_fd: int) -> list[int]:
    """IDs of the device programs attached to the cgroup ``cgroup_fd`` (BPF_PROG_QUERY).

    Raises:
        OSError: the query failed.
    """
    ids = (ctypes.c_uint32 * 64)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr = _attr("=IIIIQI", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), len(ids))
    _bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[: min(count, len(ids))])


def attach_device_filter(directory: str, program: bytes) -> None:
    """Load ``program``, attach it to the cgroup ``directory``, then detach the previous ones.

    Raises:
        CgroupError: the verifier refused the program, or attaching/detaching failed.
    """
    cgroup_fd = open_dir(directory)
    try:
        try:
            old = attached_programs(cgroup_fd)
        except OSError as exc:
            raise CgroupError(f"query device filters of {directory}: {describe(exc)}") from exc
        prog_fd = _load(program)
        try:
            # target_fd, attach_bpf_fd, attach_type, attach_flags
            attr = _attr("=IIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
            _bpf(BPF_PROG_ATTACH, attr)
        except OSError as exc:
            raise CgroupError(f"attach device filter to {directory}: {describe(exc)}") from exc
        finally:
            os.close(prog_fd)
        for prog_id in old:
            _detach(cgroup_fd, prog_id, directory)
    finally:
        os.close(cgroup_fd)


def _detach(cgroup_fd: int, prog_id: int, directory: str) -> None:
    try:
        prog_fd = _bpf(BPF_PROG_GET_FD_BY_ID, _attr("=I", prog_id))
    except OSError as exc:
        if exc.errno == 2:  # already gone
            return
        raise CgroupError(f"open device filter {prog_id}: {describe(exc)}") from exc
    try:
        _bpf(BPF_PROG_DETACH, _attr("=III", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE))
    except OSError as exc:
        raise CgroupError(f"detach device filter {prog_id} from {directory}: {describe(exc)}") from exc
    finally:
        os.close(prog_fd)
