"""The order in which init and exec become the container process, checked with a recording seam."""

from __future__ import annotations

import pytest

from dockyard.oci import runtime_spec as rs
from dockyard.runtime import syscalls


class FakeSyscalls(syscalls.Syscalls):
    """Records each call instead of making it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def umask(self, mask: int) -> None:
        self.calls.append(f"umask {mask:o}")

    def set_rlimits(self, process: rs.Process) -> None:
        self.calls.append("rlimits")

    def set_oom_score_adj(self, value: int) -> None:
        self.calls.append(f"oom {value}")

    def set_no_new_privs(self) -> None:
        self.calls.append("nnp")

    def install_seccomp(self, program: bytes, flags: list[str]) -> None:
        self.calls.append("seccomp")

    def set_identity(self, process: rs.Process) -> None:
        self.calls.append(f"identity {process.user.uid}")

    def enter_cwd(self, cwd: str) -> None:
        self.calls.append(f"cwd {cwd}")

    def lookup(self, name: str, env: dict[str, str]) -> str:
        self.calls.append(f"lookup {name}")
        return f"/bin/{name}"


def _process(**kwargs: object) -> rs.Process:
    return rs.Process(user=rs.User(uid=1000, gid=1000), args=["sh"], env=["A=1"], cwd="/w", **kwargs)


@pytest.mark.parametrize(
    ("nnp", "expected"),
    [
        (True, ["umask 22", "rlimits", "oom 5", "nnp", "identity 1000", "cwd /w", "lookup sh", "seccomp"]),
        (False, ["umask 22", "rlimits", "oom 5", "seccomp", "identity 1000", "cwd /w", "lookup sh"]),
    ],
    ids=["nnp-seccomp-last", "no-nnp-seccomp-while-privileged"],
)
def test_order(nnp: bool, expected: list[str]) -> None:
    fake = FakeSyscalls()
    path, env = syscalls.become_process(_process(no_new_privileges=nnp, oom_score_adj=5), fake, (b"", []))
    assert fake.calls == expected
    assert (path, env) == ("/bin/sh", {"A": "1"})


def test_without_seccomp_or_oom() -> None:
    fake = FakeSyscalls()
    process = _process()
    process.user.umask = 0o077
    syscalls.become_process(process, fake, None)
    assert fake.calls == ["umask 77", "rlimits", "identity 1000", "cwd /w", "lookup sh"]
