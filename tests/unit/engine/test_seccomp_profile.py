"""Docker's seccomp template resolved per container, as moby's setupSeccomp does."""

from __future__ import annotations

import pytest

from dockyard.engine import seccomp_profile as sp
from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime.capabilities import NAMES
from tests.support.bundles import DEFAULT_CAPS


def _resolve(
    caps: list[str] = DEFAULT_CAPS, machine: str = "x86_64", kernel: tuple[int, int] = (6, 18)
) -> rs.LinuxSeccomp:
    return sp.resolve(sp.default_template(), capabilities=caps, machine=machine, kernel=kernel)


def _rules_for(profile: rs.LinuxSeccomp, name: str) -> list[rs.LinuxSyscall]:
    return [rule for rule in profile.syscalls if name in rule.names]


def _allowed_unconditionally(profile: rs.LinuxSeccomp) -> set[str]:
    return {n for r in profile.syscalls if r.action == "SCMP_ACT_ALLOW" and not r.args for n in r.names}


def test_default_action_and_architectures_on_x86_64() -> None:
    profile = _resolve()
    assert profile.default_action == "SCMP_ACT_ERRNO"
    assert profile.default_errno_ret == 1
    assert profile.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_the_common_allow_list_comes_first() -> None:
    first = _resolve().syscalls[0]
    assert first.action == "SCMP_ACT_ALLOW"
    assert len(first.names) == 361
    assert {"read", "openat", "execve"} <= set(first.names)


def test_clone_is_allowed_only_without_namespace_flags() -> None:
    (clone,) = _rules_for(_resolve(), "clone")
    assert clone.action == "SCMP_ACT_ALLOW"
    assert clone.args == [rs.LinuxSeccompArg(index=0, value=0x7E020000, op="SCMP_CMP_MASKED_EQ")]


def test_clone3_returns_enosys_without_cap_sys_admin() -> None:
    (clone3,) = _rules_for(_resolve(), "clone3")
    assert (clone3.action, clone3.errno_ret) == ("SCMP_ACT_ERRNO", 38)


@pytest.mark.parametrize(
    "name", ["mount", "umount2", "unshare", "setns", "bpf", "perf_event_open", "syslog", "reboot"]
)
def test_privileged_calls_are_absent_with_the_default_caps(name: str) -> None:
    assert _rules_for(_resolve(), name) == []


def test_chroot_comes_with_cap_sys_chroot_a_docker_default() -> None:
    assert "chroot" in _allowed_unconditionally(_resolve())
    assert "chroot" not in _allowed_unconditionally(
        _resolve([c for c in DEFAULT_CAPS if c != "CAP_SYS_CHROOT"])
    )


def test_cap_sys_admin_unlocks_mount_unshare_setns_and_plain_clone() -> None:
    profile = _resolve([*DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    allowed = _allowed_unconditionally(profile)
    assert {"mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname"} <= allowed
    assert all(not r.args for r in _rules_for(profile, "clone"))
    assert all(r.action == "SCMP_ACT_ALLOW" for r in _rules_for(profile, "clone3"))


@pytest.mark.parametrize(
    ("kernel", "present"), [((4, 8), True), ((6, 18), True), ((4, 7), False), ((3, 19), False)]
)
def test_ptrace_family_depends_on_the_kernel(kernel: tuple[int, int], present: bool) -> None:
    profile = _resolve(kernel=kernel)
    assert ("ptrace" in _allowed_unconditionally(profile)) is present
    assert ("process_vm_readv" in _allowed_unconditionally(profile)) is present


def test_cap_sys_ptrace_unlocks_ptrace_on_old_kernels_too() -> None:
    profile = _resolve([*DEFAULT_CAPS, "CAP_SYS_PTRACE"], kernel=(4, 4))
    assert {"ptrace", "kcmp", "pidfd_getfd"} <= _allowed_unconditionally(profile)


def test_personality_values() -> None:
    values = [r.args[0].value for r in _rules_for(_resolve(), "personality")]
    assert values == [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_socket_rules_leave_out_af_alg_and_af_vsock() -> None:
    args = [(r.args[0].op, r.args[0].value) for r in _rules_for(_resolve(), "socket")]
    assert args == [("SCMP_CMP_LT", 38), ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40)]


def test_arch_specific_rules_follow_the_host() -> None:
    x86 = _resolve()
    assert {"arch_prctl", "modify_ldt"} <= _allowed_unconditionally(x86)
    assert not _rules_for(x86, "set_tls")
    arm = _resolve(machine="aarch64")
    assert arm.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert {"set_tls", "cacheflush"} <= _allowed_unconditionally(arm)
    assert not _rules_for(arm, "arch_prctl")


def test_s390_gets_its_own_clone_rule() -> None:
    (clone,) = _rules_for(_resolve(machine="s390x"), "clone")
    assert clone.args[0].index == 1


def test_all_capabilities_bring_every_cap_gated_group() -> None:
    allowed = _allowed_unconditionally(_resolve(list(NAMES)))
    wanted = {
        "bpf",
        "perf_event_open",
        "reboot",
        "init_module",
        "acct",
        "iopl",
        "settimeofday",
        "vhangup",
        "mbind",
        "syslog",
        "open_by_handle_at",
        "kcmp",
    }
    assert wanted <= allowed
    assert not _rules_for(_resolve(list(NAMES)), "clone3")[0].errno_ret


def test_an_explicit_architecture_list_is_kept() -> None:
    template = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "syscalls": []}
    assert sp.resolve(template, capabilities=[], machine="x86_64", kernel=(6, 1)).architectures == [
        "SCMP_ARCH_X86"
    ]


def test_old_name_spelling_is_accepted() -> None:
    template = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO"}],
    }
    profile = sp.resolve(template, capabilities=[], machine="x86_64", kernel=(6, 1))
    assert profile.syscalls == [rs.LinuxSyscall(names=["mkdir"], action="SCMP_ACT_ERRNO")]


def test_flags_and_listener_pass_through() -> None:
    template = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "defaultErrnoRet": 38,
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY", "comment": "dropped"}],
    }
    profile = sp.resolve(template, capabilities=[], machine="x86_64", kernel=(6, 1))
    assert profile.flags == ["SECCOMP_FILTER_FLAG_LOG"]
    assert profile.listener_path == "/run/agent.sock"
    assert profile.default_errno_ret == 38


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
            },
            "both 'architectures' and 'archMap'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}],
            },
            "both 'name' and 'names'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8.1"}}
                ],
            },
            r'invalid kernel version: "4.8.1", expected "<kernel>.<major>"',
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "0.0"}}],
            },
            "version cannot be 0.0",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "mkdir", "action": "SCMP_ACT_ALLOW"}]},
            "expected a list",
        ),
        ({"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}]}, "defaultAction: required"),
    ],
)
def test_malformed_templates_are_refused_with_mobys_words(template: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        sp.resolve(template, capabilities=[], machine="x86_64", kernel=(6, 1))


def test_bad_json_is_refused_with_mobys_words() -> None:
    with pytest.raises(InvalidArgument, match=r"^Decoding seccomp profile failed: "):
        sp.load_template("{not json")


def test_an_empty_template_disables_seccomp() -> None:
    assert sp.is_disabled({})
    assert not sp.is_disabled(sp.default_template())
    assert sp.resolve({}, capabilities=[], machine="x86_64", kernel=(6, 1)).default_action == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize(
    ("release", "version"),
    [("6.18.44-fc-v657", (6, 18)), ("3.12-1-amd64", (3, 12)), ("4.8", (4, 8)), ("5.10.0-rc5", (5, 10))],
)
def test_parse_release(release: str, version: tuple[int, int]) -> None:
    assert sp.parse_release(release) == version


def test_default_profile_resolves_for_this_host() -> None:
    profile = sp.default_profile(DEFAULT_CAPS)
    assert profile.architectures[0] in ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")
    assert sp.provide(DEFAULT_CAPS, "") == profile


def test_provide_resolves_a_custom_profile() -> None:
    profile = sp.provide(
        [],
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}',
    )
    assert profile is not None
    assert profile.syscalls[0].names == ["read"]


@pytest.mark.parametrize("text", ["{}", '{"defaultAction": "", "syscalls": []}'])
def test_a_custom_profile_without_rules_means_no_filter(text: str) -> None:
    # moby setupSeccomp: no defaultAction and no syscalls -> no profile at all (not allow-all).
    assert sp.provide(DEFAULT_CAPS, text) is None


def test_the_bundled_template_is_mobys() -> None:
    import hashlib
    from pathlib import Path

    data = (Path(sp.__file__).parent / "seccomp_default.json").read_bytes()
    assert (
        hashlib.sha256(data).hexdigest() == "536529b665dd0972c37bfb569f5d4ac8a53592e7b00752bc39ff063ca9864c74"
    )
