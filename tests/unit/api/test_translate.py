"""Docker JSON <-> engine types: names, Go's typing rules, edge validation, both directions."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.api.translate import dump, json_name, load
from dockyard.api.translate_containers import (
    check_user,
    config_document,
    create_request,
    host_config_document,
)
from dockyard.engine import (
    ContainerConfig,
    HealthConfig,
    HostConfig,
    MountSpec,
    PortBinding,
    RestartPolicy,
    Ulimit,
)
from dockyard.errors import InvalidArgument
from tests.unit.api.spec import load_spec

NEW = (1, 45)


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("cpu_shares", "CpuShares"),
        ("oom_killed", "OOMKilled"),
        ("io_maximum_iops", "IOMaximumIOps"),
        ("blkio_device_read_iops", "BlkioDeviceReadIOps"),
        ("uts_mode", "UTSMode"),
        ("container_id_file", "ContainerIDFile"),
        ("nano_cpus", "NanoCpus"),
        ("host_ip", "HostIp"),
        ("ip_address", "IPAddress"),
        ("working_dir", "WorkingDir"),
    ],
)
def test_json_names(field: str, name: str) -> None:
    assert json_name(field) == name


def test_every_record_field_has_a_swagger_name() -> None:
    names: set[str] = set()
    config_names: set[str] = set()
    for version in ("1.41", "1.55"):
        definitions = load_spec(version)["definitions"]
        names |= set(definitions["HostConfig"]["allOf"][1]["properties"]) | set(
            definitions["Resources"]["properties"]
        )
        config_names |= set(definitions["ContainerConfig"]["properties"])
    for field in dataclasses.fields(HostConfig):
        assert json_name(field.name) in names, field.name
    for field in dataclasses.fields(ContainerConfig):
        assert json_name(field.name) in config_names, field.name


def test_create_body_maps_mechanically() -> None:
    request = create_request(
        {
            "Image": "alpine",
            "Cmd": ["echo", "hi"],
            "Env": ["A=1"],
            "Tty": True,
            "OpenStdin": True,
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/data": {}},
            "Labels": {"k": "v"},
            "StopTimeout": 3,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "HostConfig": {
                "Memory": 64 * 2**20,
                "CpuShares": 512,
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Mounts": [{"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1024}}],
                "UTSMode": "host",
                "ConsoleSize": [24, 80],
                "LogConfig": {"Type": "", "Config": None},
            },
            "NetworkingConfig": {
                "EndpointsConfig": {"bridge": {"Aliases": ["x"], "IPAMConfig": {"IPv4Address": "1.2.3.4"}}}
            },
        },
        NEW,
    )
    config, host = request.config, request.host_config
    assert config.cmd == ("echo", "hi")
    assert config.tty
    assert config.open_stdin
    assert config.exposed_ports == ("80/tcp",)
    assert config.volumes == ("/data",)
    assert config.stop_timeout == 3
    assert config.healthcheck == HealthConfig(test=("CMD", "true"), interval=1_000_000_000)
    assert host.memory == 64 * 2**20
    assert host.cpu_shares == 512
    assert host.port_bindings == {"80/tcp": (PortBinding(host_ip="", host_port="8080"),)}
    assert host.restart_policy == RestartPolicy(name="on-failure", maximum_retry_count=3)
    assert host.ulimits == (Ulimit(name="nofile", soft=1024, hard=2048),)
    assert host.mounts == (MountSpec(type="tmpfs", target="/tmp", tmpfs_options={"SizeBytes": 1024}),)
    assert host.uts_mode == "host"
    assert host.console_size == (24, 80)
    assert host.log_config.type == "json-file"
    endpoint = request.networking_config.endpoints_config["bridge"]
    assert endpoint.aliases == ("x",)
    assert endpoint.ipv4_address == "1.2.3.4"


def test_cmd_may_be_a_string() -> None:
    assert create_request({"Image": "a", "Cmd": "ls -l"}, NEW).config.cmd == ("ls -l",)


def test_null_fields_take_defaults_and_unknown_fields_are_ignored() -> None:
    request = create_request({"Image": "a", "Cmd": None, "Env": None, "Bogus": 1, "HostConfig": None}, NEW)
    assert request.config.cmd is None
    assert request.config.env == ()
    assert request.host_config == HostConfig()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Image": "a", "Tty": "yes"},
            "cannot unmarshal string into Go struct field Config.Tty of type bool",
        ),
        (
            {"Image": "a", "Env": "A=1"},
            "cannot unmarshal string into Go struct field Config.Env of type []string",
        ),
        (
            {"Image": "a", "Env": [1]},
            "cannot unmarshal number 1 into Go struct field Config.Env of type string",
        ),
        ({"Image": "a", "HostConfig": {"Memory": 1.5}}, "cannot unmarshal number 1.5 into Go struct field"),
        ({"Image": "a", "HostConfig": {"Memory": 2**64}}, "of type int64"),
        ({"Image": "a", "HostConfig": {"BlkioWeight": 70000}}, "of type uint16"),
        ({"Image": "a", "HostConfig": {"Privileged": 1}}, "HostConfig.Privileged of type bool"),
        ({"Image": "a", "Labels": {"k": 1}}, "Config.Labels of type string"),
        ({"Image": "a", "HostConfig": {"ConsoleSize": [1]}}, "of type [2]uint"),
        ({"Image": "a", "Cmd": {"x": 1}}, "of type strslice.StrSlice"),
    ],
    ids=[
        "bool",
        "list",
        "item",
        "fraction",
        "overflow",
        "uint16",
        "int-for-bool",
        "map-value",
        "console",
        "cmd",
    ],
)
def test_wrong_json_types_have_go_wording(body: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        create_request(body, NEW)
    assert str(caught.value).startswith("invalid JSON: json: cannot unmarshal")
    assert message in str(caught.value)


def test_empty_config_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="config cannot be empty in order to create a container"):
        create_request({"HostConfig": {}}, NEW)


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidArgument, match="cannot unmarshal array"):
        create_request([], NEW)


@pytest.mark.parametrize(
    "user", ["2147483648", "4294967296", "-1", "1000:2147483648", "99999999999999999999"]
)
def test_out_of_range_ids_are_refused(user: str) -> None:
    # CVE-2024-40635: such IDs overflowed to 0 (root) in containerd before its fix.
    with pytest.raises(InvalidArgument, match="out of range"):
        check_user(user)
    with pytest.raises(InvalidArgument):
        create_request({"Image": "a", "User": user}, NEW)


@pytest.mark.parametrize("user", ["", "root", "1000", "1000:1000", "2147483647", "nobody:nogroup", "app:100"])
def test_in_range_users_pass(user: str) -> None:
    check_user(user)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy: unknown policy 'sometimes'"),
        ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}, "can only be used with 'on-failure'"),
        ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "can't create 'AutoRemove' container"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"MemorySwappiness": 101}, "valid memory swappiness range is 0-100"),
        ({"OomScoreAdj": 1001}, "range for oom score adj is [-1000, 1000]"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        (
            {"Mounts": [{"Type": "bind", "Target": "/x", "TmpfsOptions": {}}]},
            "TmpfsOptions must not be specified",
        ),
    ],
)
def test_host_config_rules(host: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        create_request({"Image": "a", "HostConfig": host}, NEW)
    assert message in str(caught.value)


def test_version_switches_on_create() -> None:
    body: dict[str, object] = {
        "Image": "a",
        "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5},
        "HostConfig": {"AutoRemove": True, "ConsoleSize": [10, 20], "Annotations": {"a": "b"}},
        "NetworkingConfig": {"EndpointsConfig": {"one": {}, "two": {}}},
    }
    newest = create_request(body, NEW)
    assert newest.host_config.console_size == (10, 20)
    assert newest.host_config.annotations == {"a": "b"}
    assert newest.config.healthcheck is not None
    assert newest.config.healthcheck.start_interval == 5
    with pytest.raises(InvalidArgument, match="multiple network endpoints"):
        create_request(body, (1, 43))
    body["NetworkingConfig"] = None
    old = create_request(body, (1, 24))
    assert not old.host_config.auto_remove
    assert old.host_config.console_size == (0, 0)
    assert old.host_config.annotations == {}
    assert old.config.healthcheck is not None
    assert old.config.healthcheck.start_interval == 0


def test_pids_limit_zero_or_negative_means_unlimited() -> None:
    assert create_request({"Image": "a", "HostConfig": {"PidsLimit": 0}}, NEW).host_config.pids_limit is None
    assert create_request({"Image": "a", "HostConfig": {"PidsLimit": -1}}, NEW).host_config.pids_limit is None
    assert create_request({"Image": "a", "HostConfig": {"PidsLimit": 50}}, NEW).host_config.pids_limit == 50


@pytest.mark.parametrize(("sent", "stored"), [(-1, None), (None, None), (0, 0), (60, 60)])
def test_memory_swappiness_minus_one_means_unset(sent: int | None, stored: int | None) -> None:
    host = create_request({"Image": "a", "HostConfig": {"MemorySwappiness": sent}}, NEW).host_config
    assert host.memory_swappiness == stored
    assert host_config_document(host, NEW)["MemorySwappiness"] == stored


def test_a_stored_swappiness_of_minus_one_reads_null() -> None:
    """Records made before -1 was normalised at create read as dockerd would show them."""
    assert host_config_document(HostConfig(memory_swappiness=-1), NEW)["MemorySwappiness"] is None


def test_config_document_omits_empty_fields_as_go_does() -> None:
    document = config_document(ContainerConfig(image="alpine", cmd=("sh",)))
    for absent in ("Healthcheck", "StopSignal", "StopTimeout", "MacAddress", "ExposedPorts", "Shell"):
        assert absent not in document
    assert document["Cmd"] == ["sh"]
    assert document["Entrypoint"] is None
    assert document["Volumes"] is None
    assert document["OnBuild"] is None
    full = config_document(
        ContainerConfig(image="a", exposed_ports=("80/tcp",), stop_signal="SIGINT", stop_timeout=2)
    )
    assert full["ExposedPorts"] == {"80/tcp": {}}
    assert full["StopSignal"] == "SIGINT"
    assert full["StopTimeout"] == 2


def test_host_config_document_shapes() -> None:
    host = HostConfig(port_bindings={"80/tcp": (PortBinding(host_port="8080"),)}, console_size=(24, 80))
    document = host_config_document(host, NEW)
    assert document["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert document["ConsoleSize"] == [24, 80]
    assert document["UTSMode"] == ""
    assert document["OomKillDisable"] is None
    assert "Annotations" not in document
    assert "MaskedPaths" not in document


# --- round trips (hypothesis) ----------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_words = st.lists(_text, max_size=3).map(tuple)
_small = st.integers(min_value=0, max_value=2**40)


@st.composite
def container_configs(draw: st.DrawFn) -> ContainerConfig:
    return ContainerConfig(
        hostname=draw(_text),
        user=draw(st.sampled_from(["", "root", "1000:1000"])),
        tty=draw(st.booleans()),
        open_stdin=draw(st.booleans()),
        env=draw(_words),
        cmd=draw(st.none() | _words),
        entrypoint=draw(st.none() | _words),
        image=draw(_text),
        working_dir=draw(_text),
        labels=draw(st.dictionaries(_text, _text, max_size=3)),
        stop_signal=draw(st.sampled_from(["", "SIGINT"])),
        stop_timeout=draw(st.none() | st.integers(min_value=0, max_value=600)),
        exposed_ports=draw(st.lists(st.sampled_from(["80/tcp", "53/udp"]), unique=True).map(tuple)),
        volumes=draw(st.lists(st.sampled_from(["/data", "/cache"]), unique=True).map(tuple)),
    )


@st.composite
def host_configs(draw: st.DrawFn) -> HostConfig:
    return HostConfig(
        binds=draw(_words),
        network_mode=draw(st.sampled_from(["", "none", "host"])),
        memory=draw(st.sampled_from([0, 64 * 2**20])),
        cpu_shares=draw(_small),
        nano_cpus=draw(_small),
        privileged=draw(st.booleans()),
        cap_add=draw(_words),
        dns=draw(_words),
        pids_limit=draw(st.none() | st.integers(min_value=1, max_value=2**20)),
        oom_kill_disable=draw(st.none() | st.booleans()),
        sysctls=draw(st.dictionaries(_text, _text, max_size=2)),
        ulimits=tuple(draw(st.lists(st.builds(Ulimit, name=_text, soft=_small, hard=_small), max_size=2))),
        restart_policy=draw(st.sampled_from([RestartPolicy(), RestartPolicy(name="always")])),
        port_bindings=draw(
            st.dictionaries(
                st.sampled_from(["80/tcp", "443/tcp"]),
                st.lists(st.builds(PortBinding, host_ip=st.just(""), host_port=_text), max_size=2).map(tuple),
                max_size=2,
            )
        ),
        console_size=draw(st.tuples(st.integers(0, 500), st.integers(0, 500))),
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], database=None, deadline=None)
@given(config=container_configs(), host=host_configs())
def test_create_round_trips(config: ContainerConfig, host: HostConfig) -> None:
    body = config_document(config)
    body["HostConfig"] = host_config_document(host, NEW)
    request = create_request(body, NEW)
    assert request.config == config
    assert request.host_config == host


@settings(max_examples=40, database=None, deadline=None)
@given(config=container_configs())
def test_generic_dump_and_load_are_inverse(config: ContainerConfig) -> None:
    document = dump(config)
    loaded = load(ContainerConfig, document, loaders={})
    assert loaded.cmd == config.cmd
    assert loaded.env == config.env
    assert loaded.labels == config.labels


def test_endpoint_document_has_every_field() -> None:
    from dockyard.api.translate_containers import _endpoint
    from dockyard.engine import EndpointInfo

    info = EndpointInfo(
        network_id="n", ip_address="10.0.0.2", ip_prefix_len=16, aliases=("a",), dns_names=("d",)
    )
    document = _endpoint(info)
    assert {k: v for k, v in document.items() if k not in ("IPAMConfig",)} == {
        **dump(info),
        "Aliases": ["a"],
        "DNSNames": ["d"],
    }
    assert document["IPAMConfig"] is None
