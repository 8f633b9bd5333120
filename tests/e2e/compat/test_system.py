"""docker-py's system calls: ping, version, info, and events with filters and since/until.

Events are a stream, so the recorder keeps no body for them; each decoded event is validated here
against the ``/events`` answer of the negotiated document (``EventMessage``).
"""

from __future__ import annotations

import time

from tests.e2e.compat.conftest import Compat


def test_ping_and_version(compat: Compat) -> None:
    assert compat.client.ping() is True
    version = compat.client.version()
    assert version["ApiVersion"] == "1.45"
    assert version["MinAPIVersion"] == "1.24"
    assert (version["Os"], version["Arch"]) == ("linux", "amd64")
    assert {"Engine"} <= {component["Name"] for component in version["Components"]}
    expected = "1.41" if compat.negotiated == "1.41" else "1.45"
    assert compat.negotiated == expected
    compat.check()


def test_info_counts_containers_and_images(compat: Compat) -> None:
    compat.client.containers.create("alpine", ["true"])
    running = compat.client.containers.run("alpine", ["sleep", "60"], detach=True)
    info = compat.client.info()
    assert (info["Containers"], info["ContainersRunning"], info["ContainersStopped"]) == (2, 1, 1)
    assert info["Images"] >= 1
    assert info["OSType"] == "linux"
    assert info["Driver"] == "overlay2"
    assert info["DockerRootDir"] == str(compat.daemon.data_root)
    assert info["LoggingDriver"] == "json-file"
    running.kill()
    compat.check()


def _events(
    compat: Compat, since: float, until: float, filters: dict[str, object]
) -> list[dict[str, object]]:
    stream = compat.client.events(since=since, until=until, filters=filters, decode=True)
    try:
        events = list(stream)
    finally:
        stream.close()
    for event in events:
        compat.api.validate_response("get", "/events", 200, event)
    return events


def test_events_of_a_container_run(compat: Compat) -> None:
    since = time.time()
    container = compat.client.containers.run(
        "alpine", ["sh", "-c", "exit 2"], detach=True, name="dyt-evented"
    )
    container.wait(timeout=30)
    container.remove()
    until = time.time() + 1
    events = _events(compat, since, until, {"container": container.id})
    actions = [event["Action"] for event in events]
    assert actions == ["create", "start", "die", "destroy"]
    for event in events:
        assert (event["Type"], event["Actor"]["ID"], event["scope"]) == ("container", container.id, "local")  # type: ignore[index]
        assert event["Actor"]["Attributes"]["name"] == "dyt-evented"  # type: ignore[index]
        assert event["Actor"]["Attributes"]["image"] == "alpine"  # type: ignore[index]
        assert since - 1 <= event["time"] <= until  # type: ignore[operator]
    die = events[2]
    assert die["Actor"]["Attributes"]["exitCode"] == "2"  # type: ignore[index]
    compat.check()


def test_events_filtered_by_type_and_action(compat: Compat) -> None:
    since = time.time()
    first = compat.client.containers.run("alpine", ["true"], detach=True)
    second = compat.client.containers.run("alpine", ["true"], detach=True)
    first.wait(timeout=30)
    second.wait(timeout=30)
    until = time.time() + 1
    dies = _events(compat, since, until, {"type": "container", "event": "die"})
    assert sorted(event["id"] for event in dies) == sorted([first.id, second.id])  # type: ignore[type-var]
    assert all(event["status"] == "die" for event in dies)
    assert _events(compat, since, until, {"type": "image"}) == []
    assert _events(compat, since, until, {"image": "alpine", "event": "start"}) != []
    compat.check()


def test_events_since_and_until_bound_the_stream(compat: Compat) -> None:
    now = time.time()
    compat.client.containers.create("alpine", ["true"])
    started = time.monotonic()
    assert [e["Action"] for e in _events(compat, now, now + 1, {"type": "container"})] == ["create"]
    assert time.monotonic() - started < 10  # the stream ends at `until`
    assert _events(compat, now - 3600, now - 1800, {"type": "container"}) == []
    compat.check()
