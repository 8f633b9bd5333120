"""The syscall tables: the installed kernel headers and libseccomp agree with them."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

from dockyard.engine import seccomp_profile
from dockyard.runtime.seccomp_syscalls import ARCHES, X32_SYSCALL_BIT, table

_HEADERS = Path("/usr/include/x86_64-linux-gnu/asm")
_SCMP = {
    "SCMP_ARCH_X86_64": 0xC000003E,
    "SCMP_ARCH_X86": 0x40000003,
    "SCMP_ARCH_X32": 0x4000003E,
    "SCMP_ARCH_AARCH64": 0xC00000B7,
    "SCMP_ARCH_ARM": 0x40000028,
}


def _header(name: str) -> dict[str, int]:
    path = _HEADERS / name
    if not path.exists():
        pytest.skip(f"{path} is not installed (Debian's linux-libc-dev)")
    text = path.read_text()
    found = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+) (\d+)\b", text)}
    found |= {
        m[1]: X32_SYSCALL_BIT + int(m[2])
        for m in re.finditer(r"#define __NR_(\w+) \(__X32_SYSCALL_BIT \+ (\d+)\)", text)
    }
    return found


@pytest.mark.parametrize(
    ("arch", "header"),
    [
        ("SCMP_ARCH_X86_64", "unistd_64.h"),
        ("SCMP_ARCH_X86", "unistd_32.h"),
        ("SCMP_ARCH_X32", "unistd_x32.h"),
    ],
)
def test_tables_hold_every_header_entry(arch: str, header: str) -> None:
    expected = _header(header)
    assert len(expected) > 300
    ours = table(arch)
    assert {name: ours.get(name) for name in expected} == expected


def test_well_known_numbers() -> None:
    assert table("SCMP_ARCH_X86_64")["clone3"] == 435
    assert table("SCMP_ARCH_X86")["socketcall"] == 102
    assert table("SCMP_ARCH_X32")["read"] == X32_SYSCALL_BIT
    assert table("SCMP_ARCH_AARCH64")["openat"] == 56
    assert table("SCMP_ARCH_ARM")["set_tls"] == 0x0F0005
    assert table("SCMP_ARCH_X86_64")["uretprobe"] == 335


def test_every_docker_profile_name_of_these_arches_is_known() -> None:
    template = seccomp_profile.default_template()
    names = {n for rule in template["syscalls"] for n in rule["names"]}  # type: ignore[union-attr, index]
    foreign = {n for n in names if n.startswith(("s390_", "riscv_"))} | {"swapcontext"}
    unknown = {n for n in names - foreign if not any(n in table(a) for a in ARCHES)}
    assert unknown == set()


def test_tables_agree_with_libseccomp() -> None:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp.so.2 is not installed")
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    checked = 0
    for arch, token in _SCMP.items():
        for name, number in table(arch).items():
            theirs = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
            if theirs >= 0:  # names newer than the installed libseccomp are ours alone
                assert theirs == number, (arch, name)
                checked += 1
    assert checked > 1500
