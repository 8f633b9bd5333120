"""Device rules: the v1 emulation, the v1 writes and the v2 eBPF program agree."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import cgroups_devices as devices
from tests.unit.runtime.bpf_interp import run_device_filter
from tests.unit.runtime.test_cgroups import DOCKER_DEVICES

PRIVILEGED = [rs.LinuxDeviceCgroup(allow=True, access="rwm")]


def _allowed(rules: list[devices.Rule], kind: str, major: int, minor: int, access: str) -> bool:
    return run_device_filter(devices.ebpf_program(rules), kind, major, minor, access) == 1


def test_spec_rules_come_first_then_runcs_defaults() -> None:
    rules = devices.rules_from_spec(DOCKER_DEVICES)
    assert rules[0] == (False, "a", -1, -1, "rwm")
    assert rules[-len(devices.RUNC_ALLOWED) :] == list(devices.RUNC_ALLOWED)


@pytest.mark.parametrize(
    "rule",
    [rs.LinuxDeviceCgroup(allow=True, type="x", access="r"), rs.LinuxDeviceCgroup(allow=True, access="rwx")],
)
def test_bad_rules_are_refused(rule: rs.LinuxDeviceCgroup) -> None:
    with pytest.raises(InvalidArgument, match=r"linux.resources.devices\[0\]"):
        devices.rules_from_spec([rule])


def test_privileged_allows_everything_with_one_write() -> None:
    assert devices.v1_writes(devices.rules_from_spec(PRIVILEGED)) == [("devices.allow", "a")]


def test_deny_removes_access_bits_from_an_identical_exception() -> None:
    emulator = devices.emulate(
        [(False, "a", -1, -1, "rwm"), (True, "c", 1, 3, "rwm"), (False, "c", 1, 3, "w")]
    )
    assert emulator.rules() == [(True, "c", 1, 3, "rm")]


def test_allow_widens_an_identical_exception() -> None:
    emulator = devices.emulate([(True, "c", 1, 3, "r"), (True, "c", 1, 3, "m")])
    assert emulator.rules() == [(True, "c", 1, 3, "rm")]


def test_a_deny_does_not_punch_a_hole_in_a_wildcard() -> None:
    emulator = devices.emulate([(True, "c", 136, -1, "rwm"), (False, "c", 136, 3, "rwm")])
    assert emulator.rules() == [(True, "c", 136, -1, "rwm")]


def test_in_allow_mode_denies_are_the_exceptions() -> None:
    rules: list[devices.Rule] = [(True, "a", -1, -1, "rwm"), (False, "b", 8, 0, "w")]
    assert devices.v1_writes(rules) == [("devices.allow", "a"), ("devices.deny", "b 8:0 w")]
    assert not _allowed(rules, "b", 8, 0, "w")
    assert _allowed(rules, "b", 8, 0, "r")
    assert _allowed(rules, "c", 1, 3, "rw")


@pytest.mark.parametrize(
    ("kind", "major", "minor", "access", "allowed"),
    [
        ("c", 1, 3, "rw", True),  # /dev/null
        ("c", 1, 7, "rw", True),  # /dev/full: runc's defaults come after Docker's rules
        ("c", 5, 1, "rw", True),  # /dev/console, from Docker's rules
        ("c", 10, 229, "rw", False),  # fuse: denied by Docker, not re-allowed by runc
        ("c", 10, 229, "m", True),  # but mknod of any char device is allowed (c *:* m)
        ("b", 8, 0, "r", False),  # a disk
        ("b", 8, 0, "m", True),
        ("c", 136, 7, "rwm", True),  # /dev/pts/7
        ("c", 1, 11, "w", False),  # /dev/kmsg
    ],
)
def test_docker_rules_in_the_device_program(
    kind: str, major: int, minor: int, access: str, allowed: bool
) -> None:
    assert _allowed(devices.rules_from_spec(DOCKER_DEVICES), kind, major, minor, access) is allowed


def test_partial_access_rules_match_only_requests_within_them() -> None:
    rules = devices.rules_from_spec(
        [
            rs.LinuxDeviceCgroup(allow=False, access="rwm"),
            rs.LinuxDeviceCgroup(allow=True, type="c", major=1, minor=11, access="r"),
        ]
    )
    assert _allowed(rules, "c", 1, 11, "r")
    assert not _allowed(rules, "c", 1, 11, "w")
    assert not _allowed(rules, "c", 1, 11, "rw")


def test_the_program_and_the_v1_writes_describe_the_same_policy() -> None:
    rules = devices.rules_from_spec(DOCKER_DEVICES)
    writes = devices.v1_writes(rules)
    allowed_lines = {line for name, line in writes if name == "devices.allow"}
    for line in allowed_lines:
        kind, numbers, access = line.split()
        major, minor = (int(n) if n != "*" else 4242 for n in numbers.split(":"))
        assert _allowed(rules, kind, major, minor, access), line
