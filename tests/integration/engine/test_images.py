"""The images facade against a real registry: Docker's query forms, container usage, events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.engine import Engine, HostConfig, Progress
from dockyard.errors import ImageInUse, NotFound
from dockyard.registry import RegistryAuthError, RegistryUnavailable
from tests.integration.engine.conftest import Engines, create
from tests.support import oci_layouts
from tests.support.evil_registry import EvilRegistry, open_evil_registry, refused_host
from tests.support.registry import RunningRegistry, open_registry, push_image


@pytest.fixture(scope="module")
def registry() -> Iterator[RunningRegistry]:
    with open_registry() as running:
        push_image(running, oci_layouts.fixture("alpine"), "library/alpine:latest")
        push_image(running, oci_layouts.fixture("alpine"), "library/alpine:3.2")
        yield running


async def _pull(engine: Engine, from_image: str, tag: str) -> list[str]:
    return [
        p.status
        async for p in engine.images.pull(from_image=from_image, tag=tag, platform=None, registry_auth=None)
    ]


async def test_pull_list_inspect_tag_and_remove(engines1: Engines, registry: RunningRegistry) -> None:
    engine = await engines1.open(load=False)
    name = f"{registry.host}/library/alpine"
    statuses = await _pull(engine, name, "latest")
    assert statuses[0] == "Pulling from library/alpine"
    assert f"Status: Downloaded newer image for {name}:latest" in statuses
    summary = engine.images.list()
    assert [s.repo_tags for s in summary] == [(f"{name}:latest",)]
    details = engine.images.inspect(f"{name}:latest")
    assert details.config.get("Cmd") == ["/bin/sh"]
    assert details.root_fs["Type"] == "layers"
    assert engine.images.history(details.id)[0].id == details.id
    engine.images.tag(f"{name}:latest", repo="mine", tag="v1")
    assert engine.images.inspect("mine:v1").id == details.id
    assert await engine.images.remove_image("mine:v1") == [("Untagged", "mine:v1")]
    actions = [e.action for e in engine.events.replay(since=0, until=None) if e.type == "image"]
    assert actions == ["pull", "tag", "untag"]
    untag = next(e for e in engine.events.replay(since=0, until=None) if e.action == "untag")
    assert untag.actor_id == details.id


async def test_all_tags_and_digest_forms(engines1: Engines, registry: RunningRegistry) -> None:
    engine = await engines1.open(load=False)
    name = f"{registry.host}/library/alpine"
    await _pull(engine, name, "")  # all tags
    tags = {t for s in engine.images.list() for t in s.repo_tags}
    assert tags == {f"{name}:latest", f"{name}:3.2"}
    digest = engine.images.inspect(f"{name}:latest").repo_digests[0].split("@")[1]
    await _pull(engine, name, digest)


async def test_an_unknown_tag_is_the_registrys_not_found(
    engines1: Engines, registry: RunningRegistry
) -> None:
    engine = await engines1.open(load=False)
    with pytest.raises(NotFound, match="manifest unknown"):
        await _pull(engine, f"{registry.host}/library/alpine", "nope")


async def test_an_image_a_container_uses_cannot_be_removed(
    engines1: Engines, registry: RunningRegistry
) -> None:
    engine = await engines1.open()
    cid = await create(engine, "true", host=HostConfig())
    with pytest.raises(ImageInUse, match=cid[:12]):
        await engine.images.remove_image("alpine:latest")
    await engine.containers.remove(cid)
    records = await engine.images.remove_image("alpine:latest")
    assert records[0] == ("Untagged", "alpine:latest")
    assert any(kind == "Deleted" for kind, _ in records)


async def test_push_through_the_facade_then_pull_it_back(
    engines1: Engines, registry: RunningRegistry
) -> None:
    engine = await engines1.open()
    name = f"{registry.host}/library/pushed"
    engine.images.tag("alpine:latest", repo=name, tag="v1")
    pushed = [p.status async for p in engine.images.push(name, tag="v1", registry_auth=None)]
    assert pushed[0] == f"The push refers to repository [{name}]"
    assert pushed[-1].startswith("v1: digest: sha256:")
    image_id = engine.images.inspect(f"{name}:v1").id
    await engine.images.remove_image(f"{name}:v1")
    assert f"Status: Downloaded newer image for {name}:v1" in await _pull(engine, name, "v1")
    assert engine.images.inspect(f"{name}:v1").id == image_id
    push = next(e for e in engine.events.replay(since=0, until=None) if e.action == "push")
    assert (push.actor_id, push.attributes["name"]) == (f"{name}:v1", name)


# --- refusals come before the first message --------------------------------------------------------


@pytest.fixture(scope="module")
def locked_registry() -> Iterator[RunningRegistry]:
    with open_registry(auth="htpasswd") as running:
        yield running


@pytest.fixture(scope="module")
def evil() -> Iterator[EvilRegistry]:
    with open_evil_registry() as running:
        yield running


async def _first_message(engine: Engine, from_image: str) -> Progress:
    stream = engine.images.pull(from_image=from_image, tag="", platform=None, registry_auth=None)
    try:
        return await anext(aiter(stream))
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_an_unknown_image_is_refused_before_any_progress(
    engines1: Engines, registry: RunningRegistry
) -> None:
    # The API answers such an error as HTTP 404: docker prints "Error response from daemon: ...".
    engine = await engines1.open(load=False)
    name = f"{registry.host}/library/nosuch"
    with pytest.raises(NotFound) as info:
        await _first_message(engine, f"{name}:latest")
    assert str(info.value) == f"manifest for {name}:latest not found: manifest unknown: manifest unknown"
    assert engine.images.list() == []


async def test_a_registry_nobody_listens_on_is_refused_before_any_progress(engines1: Engines) -> None:
    engine = await engines1.open(load=False)
    host = refused_host()
    with pytest.raises(RegistryUnavailable) as info:  # a SystemFailure: HTTP 500, as dockerd answers
        await _first_message(engine, f"{host}/x:latest")
    assert str(info.value) == f'Get "http://{host}/v2/": dial tcp {host}: connect: connection refused'


@pytest.mark.parametrize(
    ("fixture", "repository", "kind", "pattern"),
    [
        pytest.param(
            "locked_registry",
            "library/alpine",
            RegistryAuthError,
            r"no basic auth credentials$",
            id="401",
        ),
        pytest.param("evil", "status/429", RegistryUnavailable, r"^toomanyrequests: ", id="429"),
    ],
)
async def test_a_refusing_registry_is_refused_before_any_progress(
    engines1: Engines, request: pytest.FixtureRequest, fixture: str, repository: str, kind: type, pattern: str
) -> None:
    host = request.getfixturevalue(fixture).host
    engine = await engines1.open(load=False)
    with pytest.raises(kind, match=pattern):
        await _first_message(engine, f"{host}/{repository}:latest")
