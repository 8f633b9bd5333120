from __future__ import annotations

import pytest

from dockyard.engine import records
from dockyard.engine.container import (
    Container,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    HealthConfig,
    HostConfig,
    MountSpec,
    NetworkingConfig,
    PortBinding,
    RestartPolicy,
    Ulimit,
)
from dockyard.errors import CorruptRecord
from dockyard.util import jsoncodec


def _container() -> Container:
    return Container(
        id="a" * 64,
        name="web",
        created="2024-01-02T03:04:05.123456789Z",
        path="sh",
        args=("-c", "echo hi"),
        config=ContainerConfig(
            env=("A=1",),
            cmd=("sh", "-c", "echo hi"),
            entrypoint=None,
            labels={"k": "v"},
            healthcheck=HealthConfig(test=("CMD", "true"), interval=5),
            stop_timeout=3,
        ),
        host_config=HostConfig(
            port_bindings={"80/tcp": (PortBinding(host_port="8080"),)},
            restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=2),
            mounts=(
                MountSpec(type="bind", target="/x", source="/y", bind_options={"Propagation": "rshared"}),
            ),
            ulimits=(Ulimit(name="nofile", soft=10, hard=20),),
            console_size=(24, 80),
            pids_limit=None,
            memory_swappiness=30,
        ),
        networking_config=NetworkingConfig(),
        image_id="sha256:" + "b" * 64,
        state=ContainerState(status=ContainerStatus.EXITED, exit_code=3),
    )


def test_a_container_survives_the_round_trip_through_json() -> None:
    container = _container()
    text = jsoncodec.dumps(records.encode(container))
    assert records.decode(Container, jsoncodec.loads(text)) == container


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    data = records.encode(_container())
    assert isinstance(data, dict)
    data["from_the_future"] = 1
    del data["driver"]
    decoded = records.decode(Container, data)
    assert decoded.driver == "overlay2"


def test_a_wrongly_typed_value_is_a_corrupt_record() -> None:
    data = records.encode(_container())
    assert isinstance(data, dict)
    data["args"] = "not a list"
    with pytest.raises(CorruptRecord):
        records.decode(Container, data)


def test_a_bad_enum_value_is_a_corrupt_record() -> None:
    data = records.encode(_container())
    assert isinstance(data, dict)
    data["state"] = {"status": "sleepy"}
    with pytest.raises(CorruptRecord):
        records.decode(Container, data)
