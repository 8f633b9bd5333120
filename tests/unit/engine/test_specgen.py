"""specgen against golden config.json files (``--update-golden`` rewrites them)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dockyard.engine import seccomp_profile as sp
from dockyard.engine.container import ContainerConfig, HostConfig, Ulimit
from dockyard.engine.specgen import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    HostFacts,
    SpecInputs,
    build_spec,
    effective_capabilities,
    parse_security_opts,
    unavailable_capabilities,
)
from dockyard.engine.users import ResolvedUser
from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec as oci
from tests.support.engine_fakes import make_container

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CID = "0123456789ab" + "c" * 52

FACTS = HostFacts(
    cgroup_version=1,
    time_namespace=False,
    last_cap=40,
    thermal_throttle_paths=("/sys/devices/system/cpu/cpu0/thermal_throttle",),
    rlimit_hard={"RLIMIT_NOFILE": 20000},
    init_binary="/usr/bin/tini-static",
    cgroup_parent="/dockyard",
)
INPUTS = SpecInputs(
    rootfs="/run/dockyard/bundles/x/rootfs",
    resolv_conf=f"/var/lib/dockyard/containers/{CID}/resolv.conf",
    hostname_file=f"/var/lib/dockyard/containers/{CID}/hostname",
    hosts_file=f"/var/lib/dockyard/containers/{CID}/hosts",
    user=ResolvedUser(uid=0, gid=0, home="/root"),
    netns=f"/run/dockyard/netns/{CID[:16]}",
)


def fake_seccomp(caps: list[str], custom: str) -> oci.LinuxSeccomp:
    """Stands in for Docker's profile: records what it was resolved for."""
    marker = f"profile-for-{len(caps)}-caps" + ("-custom" if custom else "")
    return oci.LinuxSeccomp(
        default_action="SCMP_ACT_ERRNO",
        syscalls=[oci.LinuxSyscall(names=[marker], action="SCMP_ACT_ALLOW")],
    )


def _base_config(**changes: object) -> ContainerConfig:
    config = ContainerConfig(
        hostname=CID[:12],
        image="busybox",
        cmd=("sh", "-c", "echo hi"),
        env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar"),
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


CASES: dict[str, tuple[ContainerConfig, HostConfig, SpecInputs]] = {
    "default": (_base_config(), HostConfig(), INPUTS),
    "tty": (_base_config(tty=True, open_stdin=True), HostConfig(console_size=(24, 80)), INPUTS),
    "user": (
        _base_config(user="1000:1000"),
        HostConfig(group_add=("100",)),
        dataclasses.replace(INPUTS, user=ResolvedUser(uid=1000, gid=1000, additional_gids=(100,))),
    ),
    "privileged": (_base_config(), HostConfig(privileged=True), INPUTS),
    "read_only": (_base_config(), HostConfig(readonly_rootfs=True, tmpfs={"/run": "size=1m"}), INPUTS),
    "cap_add_drop": (
        _base_config(),
        HostConfig(cap_add=("sys_admin", "CAP_NET_ADMIN"), cap_drop=("chown", "NET_RAW")),
        INPUTS,
    ),
    "resources": (
        _base_config(),
        HostConfig(memory=64 * 2**20, memory_swap=128 * 2**20, nano_cpus=1_500_000_000, pids_limit=50,
                   cpu_shares=512, blkio_weight=300, ulimits=(Ulimit(name="nofile", soft=1024, hard=65536),)),
        INPUTS,
    ),
    "network_none": (_base_config(), HostConfig(network_mode="none"), INPUTS),
    "network_host": (
        _base_config(hostname="thehost"),
        HostConfig(network_mode="host"),
        dataclasses.replace(INPUTS, netns=None),
    ),
    "init": (_base_config(), HostConfig(init=True), INPUTS),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_matches_golden(case: str, request: pytest.FixtureRequest) -> None:
    config, host_config, inputs = CASES[case]
    container = make_container(container_id=CID, config=config, host_config=host_config)
    container = dataclasses.replace(container, path=config.cmd[0], args=config.cmd[1:])  # type: ignore[index]
    spec = build_spec(container, inputs=inputs, facts=FACTS, seccomp=fake_seccomp)
    text = json.dumps(spec.to_json(), indent=2) + "\n"
    path = GOLDEN / f"specgen_{case}.json"
    if request.config.getoption("--update-golden"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with --update-golden"
    assert text == path.read_text()


def test_the_spec_parses_back_as_a_valid_oci_spec() -> None:
    container = make_container(container_id=CID, config=_base_config())
    spec = build_spec(container, inputs=INPUTS, facts=FACTS, seccomp=fake_seccomp)
    assert oci.load_spec(json.loads(json.dumps(spec.to_json()))) == spec


def test_default_capabilities_are_dockers_fourteen() -> None:
    assert effective_capabilities(HostConfig()) == list(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        pytest.param(("ALL",), ("CHOWN",), 40, id="all-but-one"),
        pytest.param(("NET_ADMIN",), ("ALL",), 1, id="only-added"),
        pytest.param(("cap_net_admin", "NET_ADMIN"), (), 15, id="dedup-and-case"),
    ],
)
def test_cap_add_drop_follow_moby(add: tuple[str, ...], drop: tuple[str, ...], expected: int) -> None:
    caps = effective_capabilities(HostConfig(cap_add=add, cap_drop=drop))
    assert len(caps) == expected
    assert len(set(caps)) == len(caps)


def test_an_unknown_capability_is_dockers_error() -> None:
    with pytest.raises(InvalidArgument, match=r'^unknown capability: "CAP_FLY"$'):
        effective_capabilities(HostConfig(cap_add=("fly",)))


def test_unconfined_seccomp_and_privileged_get_no_profile() -> None:
    for hc in (HostConfig(security_opt=("seccomp=unconfined",)), HostConfig(privileged=True)):
        container = make_container(container_id=CID, config=_base_config(), host_config=hc)
        spec = build_spec(container, inputs=INPUTS, facts=FACTS, seccomp=fake_seccomp)
        assert spec.linux is not None
        assert spec.linux.seccomp is None


CUSTOM = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}'


def _seccomp_of(hc: HostConfig, provider: object = sp.provide) -> oci.LinuxSeccomp | None:
    container = make_container(container_id=CID, config=_base_config(), host_config=hc)
    spec = build_spec(container, inputs=INPUTS, facts=FACTS, seccomp=provider)  # type: ignore[arg-type]
    assert spec.linux is not None
    return spec.linux.seccomp


@pytest.mark.parametrize("privileged", [False, True], ids=["plain", "privileged"])
def test_a_custom_profile_is_applied_privileged_or_not(privileged: bool) -> None:
    # moby #47499: --privileged drops the default profile, never one the user asked for.
    profile = _seccomp_of(HostConfig(privileged=privileged, security_opt=(f"seccomp={CUSTOM}",)))
    assert profile is not None
    assert (profile.default_action, profile.syscalls[0].names) == ("SCMP_ACT_ALLOW", ["mkdir"])


def test_an_empty_custom_profile_leaves_the_filter_out() -> None:
    assert _seccomp_of(HostConfig(security_opt=("seccomp={}",))) is None


def test_builtin_names_the_default_profile() -> None:
    builtin = _seccomp_of(HostConfig(security_opt=("seccomp=builtin",)))
    assert builtin is not None
    assert builtin == _seccomp_of(HostConfig())
    assert _seccomp_of(HostConfig(privileged=True, security_opt=("seccomp=builtin",))) is None


def test_the_profile_is_resolved_for_the_effective_capabilities() -> None:
    seen: list[list[str]] = []

    def provider(caps: list[str], custom: str) -> oci.LinuxSeccomp:
        seen.append(caps)
        return fake_seccomp(caps, custom)

    hc = HostConfig(cap_add=("SYS_ADMIN",))
    build_spec(make_container(container_id=CID, host_config=hc), inputs=INPUTS, facts=FACTS, seccomp=provider)
    assert seen == [[*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]]


def test_user_env_overrides_in_place_and_bare_keys_unset() -> None:
    config = _base_config(env=("PATH=/opt/bin", "HOSTNAME=mine", "FOO=1", "HOME"), tty=True)
    spec = build_spec(
        make_container(container_id=CID, config=config), inputs=INPUTS, facts=FACTS, seccomp=fake_seccomp
    )
    assert spec.process is not None
    assert spec.process.env == ["PATH=/opt/bin", "HOSTNAME=mine", "TERM=xterm", "FOO=1", "HOME=/root"]


def test_ulimits_never_exceed_the_host_hard_limit() -> None:
    hc = HostConfig(ulimits=(Ulimit(name="nofile", soft=100000, hard=100000),))
    spec = build_spec(
        make_container(container_id=CID, host_config=hc), inputs=INPUTS, facts=FACTS, seccomp=fake_seccomp
    )
    assert spec.process is not None
    assert [(r.type, r.soft, r.hard) for r in spec.process.rlimits] == [("RLIMIT_NOFILE", 20000, 20000)]


def test_a_user_mount_on_dev_replaces_every_default_under_dev() -> None:
    hc = HostConfig(binds=("/srv/dev:/dev",))
    spec = build_spec(
        make_container(container_id=CID, host_config=hc), inputs=INPUTS, facts=FACTS, seccomp=fake_seccomp
    )
    destinations = [m.destination for m in spec.mounts]
    assert "/dev/pts" not in destinations
    assert destinations.count("/dev") == 1


@pytest.mark.parametrize(
    ("opts", "nnp", "seccomp"),
    [
        pytest.param(("no-new-privileges",), True, "", id="bare"),
        pytest.param(("no-new-privileges=true",), True, "", id="equals"),
        pytest.param(("no-new-privileges:false",), False, "", id="colon-false"),
        pytest.param(("seccomp=unconfined",), False, "unconfined", id="unconfined"),
    ],
)
def test_security_opts_parse(opts: tuple[str, ...], nnp: bool, seccomp: str) -> None:
    parsed = parse_security_opts(opts)
    assert (parsed.no_new_privileges, parsed.seccomp) == (nnp, seccomp)


def test_an_unknown_security_opt_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        parse_security_opts(("frobnicate=yes",))


def test_a_container_never_gets_a_capability_the_daemon_lacks() -> None:
    without = tuple(c for c in ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE")
    privileged = effective_capabilities(HostConfig(privileged=True), available=without)
    assert "CAP_SYS_RESOURCE" not in privileged
    assert len(privileged) == 40
    assert unavailable_capabilities(HostConfig(cap_add=("sys_resource", "NET_ADMIN")), without) == [
        "CAP_SYS_RESOURCE"
    ]
