"""The seccomp compiler, run through a classic-BPF interpreter (no root needed)."""

from __future__ import annotations

import pytest

from dockyard.engine import seccomp_profile
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import seccomp
from dockyard.runtime.seccomp_syscalls import table
from tests.support.bundles import DEFAULT_CAPS
from tests.unit.runtime.bpf_interp import run_seccomp, seccomp_data

X86_64, I386, AARCH64, ARM = 0xC000003E, 0x40000003, 0xC00000B7, 0x40000028
ALLOW, KILL_PROCESS, KILL_THREAD = 0x7FFF0000, 0x80000000, 0
EPERM, ENOSYS = 0x00050001, 0x00050026
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
# What glibc's fork() and pthread_create() pass to clone(2).
FORK_FLAGS, THREAD_FLAGS = 0x01200011, 0x003D0F00

NR64 = table("SCMP_ARCH_X86_64")
NR32 = table("SCMP_ARCH_X86")
NRX32 = table("SCMP_ARCH_X32")


def _run(program: bytes, nr: int, arch: int = X86_64, args: tuple[int, ...] = ()) -> int:
    return run_seccomp(program, seccomp_data(nr, arch, args))[1]


def _profile(*rules: rs.LinuxSyscall, default: str = "SCMP_ACT_ERRNO", **kw: object) -> rs.LinuxSeccomp:
    return rs.LinuxSeccomp(default_action=default, syscalls=list(rules), **kw)


def _rule(
    names: list[str], action: str = "SCMP_ACT_ALLOW", *args: rs.LinuxSeccompArg, **kw: object
) -> rs.LinuxSyscall:
    return rs.LinuxSyscall(names=names, action=action, args=list(args), **kw)


def _arg(index: int, op: str, value: int, two: int | None = None) -> rs.LinuxSeccompArg:
    return rs.LinuxSeccompArg(index=index, op=op, value=value, value_two=two)


@pytest.fixture(scope="module")
def docker() -> bytes:
    profile = seccomp_profile.resolve(
        seccomp_profile.default_template(), capabilities=DEFAULT_CAPS, machine="x86_64", kernel=(6, 18)
    )
    return seccomp.compile(profile, "x86_64")


# --- Docker's default profile, resolved for the 14 default capabilities on x86_64 ------------------


@pytest.mark.parametrize(
    "name",
    ["read", "write", "openat", "execve", "exit_group", "futex", "rseq", "statx", "close_range", "ptrace"],
)
def test_docker_allows_the_common_syscalls(docker: bytes, name: str) -> None:
    assert _run(docker, NR64[name]) == ALLOW


@pytest.mark.parametrize(
    "name",
    [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "bpf",
        "kexec_load",
        "open_by_handle_at",
        "reboot",
        "init_module",
        "userfaultfd",
    ],
)
def test_docker_denies_with_eperm(docker: bytes, name: str) -> None:
    assert _run(docker, NR64[name]) == EPERM


def test_clone_without_namespace_flags_is_allowed(docker: bytes) -> None:
    assert _run(docker, NR64["clone"], args=(FORK_FLAGS,)) == ALLOW
    assert _run(docker, NR64["clone"], args=(THREAD_FLAGS,)) == ALLOW


@pytest.mark.parametrize("flag", [CLONE_NEWNS, CLONE_NEWUSER, 0x40000000, 0x02000000])
def test_clone_with_a_namespace_flag_is_eperm(docker: bytes, flag: int) -> None:
    assert _run(docker, NR64["clone"], args=(FORK_FLAGS | flag,)) == EPERM


def test_clone3_is_enosys_so_libc_falls_back_to_clone(docker: bytes) -> None:
    assert _run(docker, NR64["clone3"]) == ENOSYS


@pytest.mark.parametrize(
    ("family", "expected"),
    [(2, ALLOW), (10, ALLOW), (1, ALLOW), (38, EPERM), (39, ALLOW), (40, EPERM), (44, ALLOW)],
)
def test_socket_families(docker: bytes, family: int, expected: int) -> None:
    assert _run(docker, NR64["socket"], args=(family,)) == expected


def test_socket_family_high_word_is_compared_too(docker: bytes) -> None:
    # 40 in the low word but a set high word is not AF_VSOCK to the kernel, and arg0 > 40.
    assert _run(docker, NR64["socket"], args=((1 << 32) | 40,)) == ALLOW


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (0, ALLOW),
        (8, ALLOW),
        (0x20000, ALLOW),
        (0x20008, ALLOW),
        (0xFFFFFFFF, ALLOW),
        (1, EPERM),
        (0x0400000, EPERM),
    ],
)
def test_personality_values(docker: bytes, persona: int, expected: int) -> None:
    assert _run(docker, NR64["personality"], args=(persona,)) == expected


@pytest.mark.parametrize("number", [NR64["file_setattr"] + 1, 500, 1000, 0x3FFFFFFF])
def test_numbers_beyond_the_profile_are_enosys(docker: bytes, number: int) -> None:
    assert _run(docker, number) == ENOSYS


def test_a_gap_below_the_highest_number_keeps_the_default(docker: bytes) -> None:
    assert _run(docker, 336) == EPERM  # between uretprobe (335) and pidfd_send_signal (424)


def test_i386_entries(docker: bytes) -> None:
    assert _run(docker, NR32["read"], I386) == ALLOW
    assert _run(docker, NR32["socketcall"], I386) == ALLOW
    assert _run(docker, NR32["mount"], I386) == EPERM
    assert _run(docker, NR32["clone"], I386, (FORK_FLAGS,)) == ALLOW
    assert _run(docker, NR32["clone"], I386, (FORK_FLAGS | CLONE_NEWNS,)) == EPERM
    assert _run(docker, NR32["personality"], I386, (0xFFFFFFFF,)) == ALLOW
    assert _run(docker, 2000, I386) == ENOSYS


def test_x32_entries(docker: bytes) -> None:
    assert _run(docker, NRX32["read"]) == ALLOW
    assert _run(docker, NRX32["mount"]) == EPERM
    assert _run(docker, NRX32["clone3"]) == ENOSYS
    assert _run(docker, 0x40000000 + 2000) == ENOSYS


@pytest.mark.parametrize("arch", [AARCH64, ARM, 0xC0000016, 0])
def test_a_foreign_arch_is_killed(docker: bytes, arch: int) -> None:
    assert _run(docker, 0, arch) == KILL_PROCESS


def test_docker_program_fits_comfortably(docker: bytes) -> None:
    assert len(docker) // 8 < 1000


def test_with_cap_sys_admin_namespaces_are_allowed() -> None:
    profile = seccomp_profile.resolve(
        seccomp_profile.default_template(),
        capabilities=[*DEFAULT_CAPS, "CAP_SYS_ADMIN"],
        machine="x86_64",
        kernel=(6, 18),
    )
    program = seccomp.compile(profile, "x86_64")
    assert _run(program, NR64["mount"]) == ALLOW
    assert _run(program, NR64["clone"], args=(FORK_FLAGS | CLONE_NEWNS,)) == ALLOW
    assert _run(program, NR64["clone3"]) == ALLOW


# --- semantics of the compiler on small profiles ----------------------------------------------------


def test_native_arch_is_always_filtered_even_when_unlisted() -> None:
    program = seccomp.compile(_profile(_rule(["getpid"])), "x86_64")
    assert _run(program, NR64["getpid"]) == ALLOW
    assert _run(program, NR32["getpid"], I386) == KILL_PROCESS


def test_without_listed_arches_there_is_no_enosys_tail_as_in_runc() -> None:
    program = seccomp.compile(_profile(_rule(["getpid"])), "x86_64")
    assert _run(program, 1000) == EPERM


def test_x86_64_without_x32_kills_x32_numbers() -> None:
    program = seccomp.compile(_profile(_rule(["getpid"]), architectures=["SCMP_ARCH_X86_64"]), "x86_64")
    assert _run(program, NRX32["getpid"]) == KILL_PROCESS


def test_an_allowing_default_gets_no_enosys_tail() -> None:
    profile = _profile(
        _rule(["mkdir"], "SCMP_ACT_ERRNO"), default="SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86_64"]
    )
    program = seccomp.compile(profile, "x86_64")
    assert _run(program, NR64["mkdir"]) == EPERM
    assert _run(program, 1000) == ALLOW


@pytest.mark.parametrize(
    ("action", "errno", "default_errno", "expected"),
    [
        ("SCMP_ACT_ERRNO", 13, None, 0x0005000D),
        ("SCMP_ACT_ERRNO", None, 5, 0x00050001),  # a rule's errno defaults to EPERM, as in runc
        ("SCMP_ACT_KILL", None, None, KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", None, None, KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, None, KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, None, 0x00030000),
        ("SCMP_ACT_TRACE", 7, None, 0x7FF00007),
        ("SCMP_ACT_TRACE", None, None, 0x7FF00001),
        ("SCMP_ACT_LOG", None, None, 0x7FFC0000),
    ],
)
def test_actions(action: str, errno: int | None, default_errno: int | None, expected: int) -> None:
    profile = _profile(
        _rule(["mkdir"], action, errno_ret=errno), default="SCMP_ACT_ALLOW", default_errno_ret=default_errno
    )
    assert _run(seccomp.compile(profile, "x86_64"), NR64["mkdir"]) == expected


def test_default_errno_ret_sets_the_default_actions_errno() -> None:
    program = seccomp.compile(_profile(default_errno_ret=95), "x86_64")
    assert _run(program, NR64["mkdir"]) == 0x0005005F


def test_notify_needs_a_listener_path() -> None:
    with pytest.raises(InvalidArgument, match="listenerPath"):
        seccomp.compile(_profile(_rule(["mkdir"], "SCMP_ACT_NOTIFY")), "x86_64")


def test_notify_compiles_to_user_notif_and_asks_for_a_listener() -> None:
    profile = _profile(_rule(["mkdir"], "SCMP_ACT_NOTIFY"), listener_path="/run/x.sock")
    assert _run(seccomp.compile(profile, "x86_64"), NR64["mkdir"]) == 0x7FC00000
    assert seccomp.filter_flags(profile) == ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (_profile(_rule(["write"], "SCMP_ACT_NOTIFY"), listener_path="/x"), "write syscall"),
        (_profile(default="SCMP_ACT_NOTIFY"), "cannot be the default"),
        (_profile(_rule(["read"], "SCMP_ACT_BOGUS")), "unknown seccomp action"),
        (_profile(_rule(["read"], "SCMP_ACT_ALLOW", _arg(6, "SCMP_CMP_EQ", 1))), "index 6"),
        (_profile(_rule(["read"], "SCMP_ACT_ALLOW", _arg(0, "SCMP_CMP_XX", 1))), "unknown comparison"),
        (_profile(_rule(["read"], "SCMP_ACT_ALLOW", _arg(0, "SCMP_CMP_EQ", -1))), "64-bit range"),
        (_profile(architectures=["SCMP_ARCH_VAX"]), "unknown architecture"),
        (_profile(flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "unknown flag"),
    ],
)
def test_bad_profiles_are_refused(profile: rs.LinuxSeccomp, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        seccomp.compile(profile, "x86_64")


def test_an_unknown_machine_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        seccomp.compile(_profile(), "vax")


def test_unknown_names_are_skipped() -> None:
    program = seccomp.compile(_profile(_rule(["no_such_call", "getpid"])), "x86_64")
    assert _run(program, NR64["getpid"]) == ALLOW


def test_unconditional_rule_wins_over_conditional_ones() -> None:
    profile = _profile(
        _rule(["mkdir"], "SCMP_ACT_ERRNO", _arg(1, "SCMP_CMP_EQ", 0o700), errno_ret=13),
        _rule(["mkdir"], "SCMP_ACT_ALLOW"),
        _rule(["mkdir"], "SCMP_ACT_ERRNO", errno_ret=17),
        default="SCMP_ACT_KILL",
    )
    program = seccomp.compile(profile, "x86_64")
    assert _run(program, NR64["mkdir"], args=(0, 0o700)) == ALLOW


def test_first_matching_conditional_rule_wins() -> None:
    profile = _profile(
        _rule(["mkdir"], "SCMP_ACT_ERRNO", _arg(1, "SCMP_CMP_EQ", 0o700), errno_ret=13),
        _rule(["mkdir"], "SCMP_ACT_ERRNO", _arg(1, "SCMP_CMP_GE", 0o600), errno_ret=17),
        default="SCMP_ACT_ALLOW",
    )
    program = seccomp.compile(profile, "x86_64")
    assert _run(program, NR64["mkdir"], args=(0, 0o700)) == 0x0005000D
    assert _run(program, NR64["mkdir"], args=(0, 0o644)) == 0x00050011
    assert _run(program, NR64["mkdir"], args=(0, 0o500)) == ALLOW


def test_conditions_of_a_rule_are_anded() -> None:
    rule = _rule(["kill"], "SCMP_ACT_ERRNO", _arg(0, "SCMP_CMP_EQ", 1), _arg(1, "SCMP_CMP_EQ", 9))
    program = seccomp.compile(_profile(rule, default="SCMP_ACT_ALLOW"), "x86_64")
    assert _run(program, NR64["kill"], args=(1, 9)) == EPERM
    assert _run(program, NR64["kill"], args=(1, 15)) == ALLOW
    assert _run(program, NR64["kill"], args=(2, 9)) == ALLOW


def test_rules_repeating_the_default_are_dropped() -> None:
    profile = _profile(
        _rule(["mkdir"], "SCMP_ACT_ALLOW", _arg(1, "SCMP_CMP_EQ", 1)),
        _rule(["mkdir"], "SCMP_ACT_ERRNO"),
    )
    program = seccomp.compile(profile, "x86_64")
    assert _run(program, NR64["mkdir"], args=(0, 1)) == ALLOW
    assert _run(program, NR64["mkdir"], args=(0, 2)) == EPERM


_BIG = 0x1_0000_0005  # high word 1, low word 5
_CASES = [
    # (op, value, value_two, argument, matches)
    ("SCMP_CMP_EQ", _BIG, None, _BIG, True),
    ("SCMP_CMP_EQ", _BIG, None, 5, False),
    ("SCMP_CMP_NE", _BIG, None, 5, True),
    ("SCMP_CMP_NE", _BIG, None, _BIG, False),
    ("SCMP_CMP_GT", _BIG, None, _BIG + 1, True),
    ("SCMP_CMP_GT", _BIG, None, _BIG, False),
    ("SCMP_CMP_GT", _BIG, None, 0xFFFFFFFF, False),
    ("SCMP_CMP_GT", _BIG, None, 0x2_0000_0000, True),
    ("SCMP_CMP_GE", _BIG, None, _BIG, True),
    ("SCMP_CMP_GE", _BIG, None, _BIG - 1, False),
    ("SCMP_CMP_LT", _BIG, None, _BIG - 1, True),
    ("SCMP_CMP_LT", _BIG, None, _BIG, False),
    ("SCMP_CMP_LT", _BIG, None, 0xFFFFFFFF, True),
    ("SCMP_CMP_LT", _BIG, None, 0x1_0000_0006, False),
    ("SCMP_CMP_LE", _BIG, None, _BIG, True),
    ("SCMP_CMP_LE", _BIG, None, _BIG + 1, False),
    ("SCMP_CMP_LE", _BIG, None, 0x2_0000_0000, False),
    ("SCMP_CMP_MASKED_EQ", 0xFF00_0000_00FF, 0x1200_0000_0034, 0x12AB_CDEF_AB34, True),
    ("SCMP_CMP_MASKED_EQ", 0xFF00_0000_00FF, 0x1200_0000_0034, 0x13AB_CDEF_AB34, False),
    ("SCMP_CMP_MASKED_EQ", 0xFF00_0000_00FF, 0x1200_0000_0034, 0x12AB_CDEF_AB35, False),
]


@pytest.mark.parametrize(("op", "value", "two", "argument", "matches"), _CASES)
def test_64_bit_comparisons(op: str, value: int, two: int | None, argument: int, matches: bool) -> None:
    rule = _rule(["ioctl"], "SCMP_ACT_ALLOW", _arg(2, op, value, two))
    program = seccomp.compile(_profile(rule), "x86_64")
    assert (_run(program, NR64["ioctl"], args=(0, 0, argument)) == ALLOW) is matches


def test_32_bit_abis_compare_the_low_word_only() -> None:
    rule = _rule(["ioctl"], "SCMP_ACT_ALLOW", _arg(1, "SCMP_CMP_EQ", 0x5401))
    program = seccomp.compile(_profile(rule, architectures=["SCMP_ARCH_X86"]), "x86_64")
    assert _run(program, NR32["ioctl"], I386, (0, 0x5401)) == ALLOW
    assert _run(program, NR32["ioctl"], I386, (0, 0x5402)) == EPERM


def test_aarch64_and_arm_tables() -> None:
    profile = _profile(_rule(["getpid", "set_tls"]), architectures=["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    program = seccomp.compile(profile, "aarch64")
    assert _run(program, table("SCMP_ARCH_AARCH64")["getpid"], AARCH64) == ALLOW
    assert _run(program, table("SCMP_ARCH_ARM")["set_tls"], ARM) == ALLOW
    assert _run(program, table("SCMP_ARCH_ARM")["getpid"], ARM) == ALLOW
    assert _run(program, 0, X86_64) == KILL_PROCESS


def test_long_programs_use_trampolines_and_stay_correct() -> None:
    # Hundreds of conditional syscalls push decision blocks far beyond 8-bit jump range.
    names = sorted(NR64, key=NR64.__getitem__)[:300]
    rules = [
        _rule([n], "SCMP_ACT_ERRNO", _arg(0, "SCMP_CMP_EQ", i), errno_ret=i % 100 + 1)
        for i, n in enumerate(names)
    ]
    program = seccomp.compile(_profile(*rules, default="SCMP_ACT_ALLOW"), "x86_64")
    assert len(program) // 8 > 1000
    for i, name in enumerate(names):
        assert _run(program, NR64[name], args=(i,)) == 0x00050000 | (i % 100 + 1)
        assert _run(program, NR64[name], args=(i + 1,)) == ALLOW


def test_filter_flags_are_the_profiles() -> None:
    assert seccomp.filter_flags(_profile(flags=["SECCOMP_FILTER_FLAG_LOG"])) == ["SECCOMP_FILTER_FLAG_LOG"]


def test_install_refuses_unknown_flags() -> None:
    with pytest.raises(InvalidArgument):
        seccomp.install(b"", ["SECCOMP_FILTER_FLAG_BOGUS"])
