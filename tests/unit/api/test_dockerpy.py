"""docker-py (the compat oracle) against the API server over a FakeEngine: the lab's calls."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from tests.unit.api.conftest import ServerThread


@pytest.fixture
def client(api: ServerThread) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=10)
    try:
        yield client
    finally:
        client.close()


def test_negotiates_the_newest_version(client: docker.DockerClient) -> None:
    assert client.api.api_version == "1.45"
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.45"
    assert client.info()["OSType"] == "linux"


def test_pinned_old_version_works(api: ServerThread) -> None:
    old = docker.DockerClient(base_url=f"unix://{api.socket_path}", version="1.41", timeout=10)
    try:
        assert old.containers.run("alpine", ["echo", "old"]) == b"old\n"
    finally:
        old.close()


def test_pull_list_inspect_tag_remove(client: docker.DockerClient) -> None:
    image = client.images.pull("busybox", tag="latest")
    assert "busybox:latest" in image.tags
    assert {tag for i in client.images.list() for tag in i.tags} >= {"alpine:latest", "busybox:latest"}
    assert client.images.get("busybox").id == image.id
    assert image.tag("mybox", "v1")
    assert "mybox:v1" in client.images.get("busybox").tags
    assert image.history()[0]["Id"] == image.id
    client.images.remove("busybox", force=True)
    with pytest.raises(ImageNotFound):
        client.images.get("busybox")


def test_pull_of_a_missing_image_raises_with_the_registry_message(client: docker.DockerClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.images.pull("missing", tag="latest")
    assert "manifest unknown" in str(caught.value)


def test_run_in_the_foreground_returns_output(client: docker.DockerClient) -> None:
    assert client.containers.run("alpine", ["echo", "hello from alpine"]) == b"hello from alpine\n"
    assert client.containers.run("alpine", ["echo", "gone"], remove=True) == b"gone\n"


def test_run_of_a_failing_command_raises(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as caught:
        client.containers.run("alpine", ["exit", "3"])
    assert caught.value.exit_status == 3


def test_detached_container_lifecycle(client: docker.DockerClient) -> None:
    container = client.containers.run("alpine", ["sleep"], detach=True, name="lab")
    container.reload()
    assert container.status == "running"
    assert [c.name for c in client.containers.list()] == ["lab"]
    result = container.exec_run(["echo", "inside"])
    assert result.exit_code == 0
    assert result.output == b"inside\n"
    assert container.exec_run(["warn", "err"], demux=True).output == (None, b"err\n")
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 143
    container.start()
    container.reload()
    assert container.status == "running"
    container.kill()
    assert container.wait()["StatusCode"] == 137
    container.remove()
    with pytest.raises(NotFound):
        client.containers.get("lab")


def test_logs_and_attach_stream(client: docker.DockerClient) -> None:
    container = client.containers.create("alpine", ["echo", "logged"])
    container.start()
    assert container.wait()["StatusCode"] == 0
    assert container.logs() == b"logged\n"
    assert container.logs(timestamps=True).endswith(b" logged\n")
    assert container.logs(stdout=False, stderr=True) == b""


def test_api_errors_carry_status_and_message(client: docker.DockerClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.containers.get("nosuch")
    assert caught.value.explanation == "No such container: nosuch"
    client.containers.create("alpine", name="taken")
    with pytest.raises(APIError) as conflict:
        client.containers.create("alpine", name="taken")
    assert conflict.value.status_code == 409


def test_save_and_load(client: docker.DockerClient) -> None:
    data = b"".join(client.images.get("alpine").save())
    client.images.remove("alpine")
    loaded = client.images.load(data)
    assert [image.tags for image in loaded] == [["alpine:latest"]]


def test_events_decode(client: docker.DockerClient) -> None:
    import time

    client.containers.create("alpine", name="ev")
    events = list(client.events(decode=True, since=0, until=int(time.time()) + 1))
    assert any(e["Action"] == "create" and e["Actor"]["Attributes"]["name"] == "ev" for e in events)


def test_get_by_name_with_its_leading_slash(client: docker.DockerClient) -> None:
    container = client.containers.create("alpine", ["true"], name="slashed")
    assert client.containers.get("/slashed").id == container.id
