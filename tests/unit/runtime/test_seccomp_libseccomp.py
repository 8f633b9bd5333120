"""Cross-check: our compiled filters decide like libseccomp's for the same profile.

libseccomp (Debian's libseccomp2, a runc dependency) is driven through ctypes, only here in the
tests: it builds and exports its own BPF for the profile, and both programs run through the same
interpreter over every syscall number of each architecture with a spread of arguments.

Two differences are by design and kept out of the comparison: runc prepends an -ENOSYS stub that
libseccomp knows nothing of (numbers above the profile's highest answer ENOSYS in ours, the
default action in libseccomp's), and libseccomp 2.5's bad-arch action is KILL_THREAD where ours
is KILL_PROCESS (libseccomp refuses to change it where it cannot probe the kernel), so its
KILL_THREAD reads as KILL_PROCESS here; no compared profile uses KILL_THREAD otherwise.
"""

from __future__ import annotations

import ctypes
import tempfile

import pytest

from dockyard.engine import seccomp_profile
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import seccomp
from dockyard.runtime.seccomp_syscalls import X32_SYSCALL_BIT, table
from tests.support.bundles import DEFAULT_CAPS
from tests.unit.runtime.bpf_interp import run_seccomp, seccomp_data

try:
    _lib = ctypes.CDLL("libseccomp.so.2")
except OSError:
    pytest.skip("libseccomp.so.2 is not installed", allow_module_level=True)

_SCMP = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003, "SCMP_ARCH_X32": 0x4000003E}
_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_ENOSYS = 0x00050026


class _Cmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


_lib.seccomp_init.restype = ctypes.c_void_p
_lib.seccomp_init.argtypes = [ctypes.c_uint32]
_lib.seccomp_release.argtypes = [ctypes.c_void_p]
_lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
_lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
_lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
_lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
_lib.seccomp_rule_add_array.argtypes = [
    ctypes.c_void_p,
    ctypes.c_uint32,
    ctypes.c_int,
    ctypes.c_uint,
    ctypes.POINTER(_Cmp),
]


def _ret(action: str, errno: int | None) -> int:
    # The same action values the kernel (and our compiler) use.
    return seccomp._action(action, errno, "test")


def _libseccomp_program(profile: rs.LinuxSeccomp) -> bytes:
    default = _ret(profile.default_action, profile.default_errno_ret)
    ctx = _lib.seccomp_init(default)
    assert ctx
    try:
        for arch in profile.architectures:
            assert _lib.seccomp_arch_add(ctx, _SCMP[arch]) in (0, -17)  # -EEXIST for the native arch
        for call in profile.syscalls:
            action = _ret(call.action, call.errno_ret)
            if action == default:
                continue
            conds = (_Cmp * max(len(call.args), 1))(
                *[_Cmp(a.index, _OPS[a.op], a.value, a.value_two or 0) for a in call.args]
            )
            for name in call.names:
                nr = _lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:
                    continue
                assert _lib.seccomp_rule_add_array(ctx, action, nr, len(call.args), conds) == 0, name
        with tempfile.TemporaryFile() as out:
            assert _lib.seccomp_export_bpf(ctx, out.fileno()) == 0
            out.seek(0)
            return out.read()
    finally:
        _lib.seccomp_release(ctx)


_ARGS = [
    (),
    (0x10000,),
    (FORK := 0x01200011,),
    (FORK | 0x00020000,),
    (2,),
    (38,),
    (39,),
    (40,),
    (41,),
    (0xFFFFFFFF,),
    (8,),
    (1 << 32,),
]


def _compare(profile: rs.LinuxSeccomp) -> int:
    ours = seccomp.compile(profile, "x86_64")
    theirs = _libseccomp_program(profile)
    conditional = {n for call in profile.syscalls if call.args for n in call.names}
    compared = 0
    for arch in profile.architectures:
        numbers = table(arch)
        # Calls newer than libseccomp 2.5.4 (uretprobe, mseal, ...) are ours alone.
        known = {
            n: nr
            for n, nr in numbers.items()
            if _lib.seccomp_syscall_resolve_name_arch(_SCMP[arch], n.encode()) >= 0
        }
        audit = 0xC000003E if arch != "SCMP_ARCH_X86" else 0x40000003
        unknown = (X32_SYSCALL_BIT if arch == "SCMP_ARCH_X32" else 0) + 1000
        for name, nr in [*known.items(), ("", unknown)]:
            for args in _ARGS if name in conditional else [()]:
                data = seccomp_data(nr, audit, args)
                mine, reference = run_seccomp(ours, data)[1], run_seccomp(theirs, data)[1]
                reference = reference or 0x80000000  # libseccomp's bad-arch KILL_THREAD
                if mine == _ENOSYS and mine != reference:
                    continue  # runc's -ENOSYS stub, which libseccomp does not have
                assert mine == reference, (arch, name, nr, args, hex(mine), hex(reference))
                compared += 1
    return compared


def test_docker_default_profile_agrees_with_libseccomp() -> None:
    profile = seccomp_profile.resolve(
        seccomp_profile.default_template(), capabilities=DEFAULT_CAPS, machine="x86_64", kernel=(6, 18)
    )
    assert _compare(profile) > 1000


def test_docker_profile_with_all_caps_agrees_with_libseccomp() -> None:
    from dockyard.runtime.capabilities import NAMES

    profile = seccomp_profile.resolve(
        seccomp_profile.default_template(), capabilities=list(NAMES), machine="x86_64", kernel=(6, 18)
    )
    assert _compare(profile) > 1000


def test_comparison_operators_agree_with_libseccomp() -> None:
    args = [
        rs.LinuxSeccompArg(index=0, op=op, value=v, value_two=two)
        for op, v, two in [
            ("SCMP_CMP_GT", 40, None),
            ("SCMP_CMP_LE", 0xFFFFFFFF, None),
            ("SCMP_CMP_NE", 8, None),
            ("SCMP_CMP_MASKED_EQ", 0xFFFF0000, 0x10000),
            ("SCMP_CMP_LT", 1 << 32, None),
            ("SCMP_CMP_GE", 2, None),
        ]
    ]
    rules = [
        rs.LinuxSyscall(names=[name], action="SCMP_ACT_ERRNO", errno_ret=i + 2, args=[arg])
        for i, (name, arg) in enumerate(
            zip(["socket", "personality", "ioctl", "clone", "kill", "fcntl"], args, strict=True)
        )
    ]
    profile = rs.LinuxSeccomp(
        default_action="SCMP_ACT_ALLOW",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=rules,
    )
    assert _compare(profile) > 1000


def test_helper_sanity_libseccomp_is_really_consulted() -> None:
    # A profile the two would disagree on if libseccomp were ignored: its program must differ.
    profile = rs.LinuxSeccomp(
        default_action="SCMP_ACT_ERRNO", syscalls=[rs.LinuxSyscall(names=["getpid"], action="SCMP_ACT_ALLOW")]
    )
    program = _libseccomp_program(profile)
    assert (
        run_seccomp(program, seccomp_data(table("SCMP_ARCH_X86_64")["getpid"], 0xC000003E))[1] == 0x7FFF0000
    )
    assert (
        run_seccomp(program, seccomp_data(table("SCMP_ARCH_X86_64")["getppid"], 0xC000003E))[1] == 0x00050001
    )
