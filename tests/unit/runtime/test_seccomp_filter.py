"""The cache of compiled seccomp filters under the runtime's root, and the flags that go with them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as rs
from dockyard.runtime import seccomp, seccomp_filter

RAW = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["getpid", "read"], "action": "SCMP_ACT_ALLOW"}],
}


def _profile(raw: dict[str, object]) -> rs.LinuxSeccomp:
    profile = rs.LinuxSeccomp.from_json(raw, "linux.seccomp")
    assert isinstance(profile, rs.LinuxSeccomp)
    return profile


def _entries(root: Path) -> list[Path]:
    directory = root / seccomp_filter.CACHE_DIR
    return sorted(directory.iterdir()) if directory.exists() else []


def test_a_miss_compiles_and_stores_and_a_hit_returns_the_same(tmp_path: Path) -> None:
    first = seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    assert first == (seccomp.compile(_profile(RAW)), [])
    [entry] = _entries(tmp_path)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / seccomp_filter.CACHE_DIR).stat().st_mode & 0o777 == 0o700
    assert seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW)) == first


def test_a_hit_does_not_import_the_compiler(tmp_path: Path) -> None:
    seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    code = (
        "import sys; from dockyard.runtime import seccomp_filter as f; "
        f"f.load_or_compile({str(tmp_path)!r}, {RAW!r}, None); "
        "print('dockyard.runtime.seccomp' in sys.modules)"
    )
    import subprocess

    argv = [sys.executable, "-c", code]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


def test_another_profile_is_another_entry(tmp_path: Path) -> None:
    other = {**RAW, "defaultAction": "SCMP_ACT_KILL"}
    a = seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    b = seccomp_filter.load_or_compile(str(tmp_path), other, _profile(other))
    assert a != b
    assert len(_entries(tmp_path)) == 2


def test_an_entry_whose_key_differs_is_not_trusted(tmp_path: Path) -> None:
    seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    [entry] = _entries(tmp_path)
    import marshal

    key, _, _ = marshal.loads(entry.read_bytes())
    entry.write_bytes(marshal.dumps((key + b"x", b"\0" * 8, [])))  # a collision, in effect
    program, _ = seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    assert program == seccomp.compile(_profile(RAW))


def test_a_corrupt_entry_is_recompiled(tmp_path: Path) -> None:
    seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    [entry] = _entries(tmp_path)
    entry.write_bytes(b"\xffnot marshal")
    program, _ = seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    assert program == seccomp.compile(_profile(RAW))


def test_a_profile_that_does_not_compile_is_refused_and_not_stored(tmp_path: Path) -> None:
    bad = {**RAW, "defaultAction": "SCMP_ACT_BOGUS"}
    with pytest.raises(InvalidArgument):
        seccomp_filter.load_or_compile(str(tmp_path), bad, _profile(bad))
    assert _entries(tmp_path) == []


def test_an_unwritable_root_only_costs_a_compile(tmp_path: Path) -> None:
    (tmp_path / seccomp_filter.CACHE_DIR).write_text("not a directory")
    program, _ = seccomp_filter.load_or_compile(str(tmp_path), RAW, _profile(RAW))
    assert program == seccomp.compile(_profile(RAW))


def test_notify_adds_the_listener_flag_and_it_travels_with_the_program(tmp_path: Path) -> None:
    raw = {**RAW, "listenerPath": "/run/agent.sock", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
           "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}  # fmt: skip
    expected = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"]
    assert seccomp_filter.load_or_compile(str(tmp_path), raw, _profile(raw))[1] == expected
    assert seccomp_filter.load_or_compile(str(tmp_path), raw, _profile(raw))[1] == expected  # the hit


def test_for_spec_reads_the_profile_from_the_raw_config(tmp_path: Path) -> None:
    raw: dict[str, object] = {"ociVersion": "1.2.0", "linux": {"seccomp": RAW}}
    spec = rs.Spec.from_json(raw, "")
    assert isinstance(spec, rs.Spec)
    assert seccomp_filter.for_spec(str(tmp_path), spec, raw) == (seccomp.compile(_profile(RAW)), [])
    no_profile = rs.Spec.from_json({"ociVersion": "1.2.0"}, "")
    assert isinstance(no_profile, rs.Spec)
    assert seccomp_filter.for_spec(str(tmp_path), no_profile, {}) is None


def test_the_key_names_the_machine_and_the_compiler_files() -> None:
    key = seccomp_filter._key(RAW).decode()
    assert os.uname().machine in key.splitlines()
    assert all(f"{name}:" in key for name in ("seccomp.py", "seccomp_asm.py", "seccomp_syscalls.py"))
