"""The container process: capabilities, user and groups, cwd and env, rlimits, umask, NNP, seccomp."""

from __future__ import annotations

import errno

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab


def _status(lab: Lab, mutate: object = None) -> dict[str, str]:
    result = lab.run(["cat", "/proc/self/status"], mutate=mutate).ok()  # type: ignore[arg-type]
    fields = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_default_capabilities_are_dockers_14(lab: Lab) -> None:
    status = _status(lab)
    assert status["CapEff"] == "00000000a80425fb"
    assert status["CapPrm"] == "00000000a80425fb"
    assert status["CapBnd"] == "00000000a80425fb"
    assert status["CapInh"] == "0000000000000000"
    assert status["CapAmb"] == "0000000000000000"


def test_capability_sets_follow_the_spec(lab: Lab) -> None:
    # As uid 1000, so execve(2) does not give root's "all file capabilities" (capabilities(7)):
    # what survives the exec is the ambient set, within bounding.
    def few(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.user = rs.User(uid=1000, gid=1000)
        spec.process.capabilities = rs.LinuxCapabilities(
            bounding=["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            effective=["CAP_KILL"],
            permitted=["CAP_KILL", "CAP_CHOWN"],
            inheritable=["CAP_KILL"],
            ambient=["CAP_KILL"],
        )

    status = _status(lab, few)
    assert status["CapBnd"] == f"{(1 << 0) | (1 << 5) | (1 << 13):016x}"
    assert status["CapEff"] == f"{1 << 5:016x}"
    assert status["CapPrm"] == f"{1 << 5:016x}"
    assert status["CapInh"] == f"{1 << 5:016x}"
    assert status["CapAmb"] == f"{1 << 5:016x}"


def test_user_group_and_additional_groups(lab: Lab) -> None:
    def user(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.user = rs.User(uid=1000, gid=1001, additional_gids=[5, 100])

    result = lab.run(["id"], mutate=user).ok()
    assert result.stdout.strip() == "uid=1000 gid=1001 groups=5(tty),100(users)"


def test_non_root_user_has_no_effective_capabilities(lab: Lab) -> None:
    def user(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.user = rs.User(uid=1000, gid=1000)
        spec.process.capabilities = rs.LinuxCapabilities(bounding=["CAP_KILL"])

    status = _status(lab, user)
    assert status["CapEff"] == "0000000000000000"
    assert status["CapBnd"] == f"{1 << 5:016x}"


def test_cwd_and_env(lab: Lab) -> None:
    def where(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.cwd = "/tmp"
        spec.process.env = ["PATH=/bin:/usr/bin", "DYT_ONE=1", "DYT_TWO=a b=c"]

    result = lab.run(["sh", "-c", 'pwd; echo "$DYT_ONE|$DYT_TWO"; env | sort'], mutate=where).ok()
    lines = result.stdout.splitlines()
    assert lines[0] == "/tmp"
    assert lines[1] == "1|a b=c"
    assert "PATH=/bin:/usr/bin" in lines


def test_missing_cwd_is_created(lab: Lab) -> None:
    def where(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.cwd = "/made/by/runtime"

    assert lab.run(["pwd"], mutate=where).ok().stdout.strip() == "/made/by/runtime"


def test_rlimits(lab: Lab) -> None:
    def limits(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.rlimits = [
            rs.POSIXRlimit(type="RLIMIT_NOFILE", soft=321, hard=654),
            rs.POSIXRlimit(type="RLIMIT_NPROC", soft=1111, hard=2222),
        ]

    result = lab.run(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"], mutate=limits).ok()
    assert result.stdout.split() == ["321", "654", "1111"]


def test_rlimit_above_the_hard_limit_fails_like_runc(lab: Lab) -> None:
    # Root here lacks CAP_SYS_RESOURCE: a hard limit above ours cannot be set, and runc fails.
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def too_high(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.rlimits = [rs.POSIXRlimit(type="RLIMIT_NOFILE", soft=1024, hard=hard + 1)]

    if hard == resource.RLIM_INFINITY:
        return
    ident, bundle = lab.bundle(["true"], mutate=too_high)
    result = lab.cmd("create", "--bundle", str(bundle), ident)
    assert result.returncode == 1
    assert "operation not permitted" in result.stderr.lower()


def test_umask(lab: Lab) -> None:
    def umask(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.user.umask = 0o027

    assert lab.run(["sh", "-c", "umask"], mutate=umask).ok().stdout.strip() == "0027"


def test_no_new_privileges(lab: Lab) -> None:
    def nnp(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.no_new_privileges = True

    assert _status(lab, nnp)["NoNewPrivs"] == "1"
    assert _status(lab)["NoNewPrivs"] == "0"


def _deny_mkdir(spec: rs.Spec) -> None:
    assert spec.linux is not None
    spec.linux.seccomp = rs.LinuxSeccomp(
        default_action="SCMP_ACT_ALLOW",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=[
            rs.LinuxSyscall(names=["mkdir", "mkdirat"], action="SCMP_ACT_ERRNO", errno_ret=errno.EXDEV),
        ],
    )


_MKDIR = "mkdir /tmp/d; echo rc=$?; grep Seccomp: /proc/self/status"


def test_seccomp_denies_with_the_configured_errno(lab: Lab) -> None:
    result = lab.run(["sh", "-c", _MKDIR], mutate=_deny_mkdir)
    assert "Invalid cross-device link" in result.stderr
    assert "rc=1" in result.stdout
    assert "Seccomp:\t2" in result.stdout


def test_seccomp_applies_to_every_container_and_exec_with_the_profile(lab: Lab) -> None:
    # dockyard-runtime compiles a profile once and keeps the program under its root: the second
    # container, and exec in it, must be filtered exactly as the first.
    first = lab.run(["sh", "-c", _MKDIR], mutate=_deny_mkdir)
    ident = lab.start_sleeper(mutate=_deny_mkdir)
    second = lab.cmd("exec", ident, "sh", "-c", _MKDIR)
    for result in (first, second):
        assert "Invalid cross-device link" in result.stderr, result
        assert "rc=1" in result.stdout, result
        assert "Seccomp:\t2" in result.stdout, result
    unfiltered = lab.cmd("exec", lab.start_sleeper(), "grep", "Seccomp:", "/proc/self/status")
    assert "Seccomp:\t0" in unfiltered.stdout


def test_oom_score_adj(lab: Lab) -> None:
    def oom(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.oom_score_adj = 500

    assert lab.run(["cat", "/proc/self/oom_score_adj"], mutate=oom).ok().stdout.strip() == "500"


def test_hostname(lab: Lab) -> None:
    # (domainname is not checked: runc 1.1.5, the oracle here, ignores it.)
    def names(spec: rs.Spec) -> None:
        spec.hostname = "dyt-host"

    assert lab.run(["hostname"], mutate=names).ok().stdout.strip() == "dyt-host"
