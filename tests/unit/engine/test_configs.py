"""Create-time merging with the image, defaults and Docker's refusals."""

from __future__ import annotations

import pytest

from dockyard.engine.configs import (
    BRIDGE_WARNING,
    check_host_config,
    command_of,
    default_host_config,
    merge_image_config,
    parse_size,
)
from dockyard.engine.container import ContainerConfig, HostConfig, LogConfig, RestartPolicy
from dockyard.engine.seams import ImageDefaults
from dockyard.errors import InvalidArgument, NoSuchNetwork, Unsupported

IMAGE = ImageDefaults(
    env=("PATH=/img", "LANG=C"),
    cmd=("/bin/sh",),
    entrypoint=None,
    working_dir="/work",
    user="app",
    labels={"from": "image", "both": "image"},
    exposed_ports=("80/tcp",),
    stop_signal="SIGQUIT",
)


def test_user_settings_win_and_image_fills_the_rest() -> None:
    merged = merge_image_config(
        ContainerConfig(env=("LANG=en", "X=1"), labels={"both": "user"}, exposed_ports=("81/tcp",)), IMAGE
    )
    assert merged.env == ("LANG=en", "X=1", "PATH=/img")
    assert merged.labels == {"from": "image", "both": "user"}
    assert merged.exposed_ports == ("81/tcp", "80/tcp")
    assert (merged.cmd, merged.user, merged.working_dir, merged.stop_signal) == (
        ("/bin/sh",),
        "app",
        "/work",
        "SIGQUIT",
    )


def test_an_entrypoint_drops_the_images_cmd() -> None:
    merged = merge_image_config(ContainerConfig(entrypoint=("top",)), IMAGE)
    assert (merged.entrypoint, merged.cmd) == (("top",), None)
    assert command_of(merged) == ("top", ())


def test_an_empty_entrypoint_drops_both_and_needs_a_command() -> None:
    image = ImageDefaults(entrypoint=("/entry",), cmd=("arg",))
    merged = merge_image_config(ContainerConfig(entrypoint=("",)), image)
    with pytest.raises(InvalidArgument, match="No command specified"):
        command_of(merged)
    assert command_of(merge_image_config(ContainerConfig(entrypoint=("",), cmd=("ls", "-l")), image)) == (
        "ls",
        ("-l",),
    )


def test_defaults_dockerd_makes_visible() -> None:
    hc = default_host_config(HostConfig(memory=100 * 2**20), cgroup_version=1, default_runtime="runc")
    assert (hc.network_mode, hc.ipc_mode, hc.cgroupns_mode) == ("bridge", "private", "host")
    assert (hc.shm_size, hc.memory_swap, hc.runtime, hc.log_config.type) == (
        64 * 2**20,
        200 * 2**20,
        "runc",
        "json-file",
    )
    assert default_host_config(HostConfig(), cgroup_version=2, default_runtime="x").cgroupns_mode == "private"


def _check(**host: object) -> list[str]:
    hc = default_host_config(HostConfig(**host), cgroup_version=1, default_runtime="runc")  # type: ignore[arg-type]
    return check_host_config(ContainerConfig(), hc, runtimes=("runc",), ncpu=2)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        pytest.param({"memory": 1024}, "Minimum memory limit allowed is 6MB", id="tiny-memory"),
        pytest.param(
            {"memory": 64 * 2**20, "memory_swap": 32 * 2**20},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
            id="swap-below",
        ),
        pytest.param(
            {"nano_cpus": 3_000_000_000},
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            id="too-many-cpus",
        ),
        pytest.param(
            {"nano_cpus": 1, "cpu_period": 1000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            id="cpus-and-period",
        ),
        pytest.param({"runtime": "kata"}, "Unknown runtime specified kata", id="unknown-runtime"),
        pytest.param(
            {"log_config": LogConfig(type="syslog")},
            "logger: no log driver named 'syslog' is registered",
            id="log-driver",
        ),
        pytest.param(
            {"oom_score_adj": 2000},
            "Invalid value 2000, range for oom score adj is [-1000, 1000]",
            id="oom-score",
        ),
        pytest.param(
            {"auto_remove": True, "restart_policy": RestartPolicy(name="always")},
            "can't create 'AutoRemove' container with restart policy",
            id="rm-and-restart",
        ),
        pytest.param({"cap_add": ("FLY",)}, 'unknown capability: "CAP_FLY"', id="capability"),
        pytest.param(
            {"network_mode": "host", "sysctls": {"net.ipv4.ip_forward": "1"}},
            "sysctl 'net.ipv4.ip_forward' not allowed in host network namespace",
            id="net-sysctl-on-host",
        ),
    ],
)
def test_dockerd_refusals(host: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        _check(**host)
    assert str(info.value) == message


def test_no_network_mode_adds_a_create_warning() -> None:
    # The missing bridge is reported by /info and the daemon log, not by every `docker run`.
    assert _check() == []
    assert _check(network_mode="none") == []
    assert _check(network_mode="host") == []
    assert BRIDGE_WARNING.startswith("WARNING: bridge networking is not available yet")


def test_named_networks_and_shared_namespaces_are_not_there_yet() -> None:
    with pytest.raises(NoSuchNetwork, match="network mynet not found"):
        _check(network_mode="mynet")
    with pytest.raises(Unsupported):
        _check(pid_mode="container:abc")


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("1k", 1024), ("10m", 10 * 2**20), ("10mb", 10 * 2**20), ("1.5g", int(1.5 * 2**30))],
)
def test_sizes_parse_like_go_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_log_options_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="max-file cannot be greater than 1 when max-size is not set"):
        _check(log_config=LogConfig(config={"max-file": "3"}))
    with pytest.raises(InvalidArgument, match="unknown log opt 'colour'"):
        _check(log_config=LogConfig(config={"colour": "red"}))
