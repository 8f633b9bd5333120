"""Image endpoints: pull/import/load streams, list shapes per version, rmi rules, save."""

from __future__ import annotations

import io
import json
import tarfile

from tests.unit.api.conftest import ServerThread


def _lines(body: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_pull_streams_docker_progress(api: ServerThread) -> None:
    reply = api.request("POST", "/images/create?fromImage=busybox&tag=1.36")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    lines = _lines(reply.body)
    assert lines[0] == {"status": "Pulling from library/busybox", "progressDetail": {}, "id": "1.36"}
    downloading = next(line for line in lines if line["status"] == "Downloading")
    assert downloading["progressDetail"] == {"current": 1000, "total": 4000}
    assert str(downloading["progress"]).startswith("[=")
    assert lines[-1] == {"status": "Status: Downloaded newer image for busybox:1.36"}
    assert api.request("GET", "/images/busybox:1.36/json").status == 200


def test_pull_error_before_progress_is_an_http_error(api: ServerThread) -> None:
    reply = api.request("POST", "/images/create?fromImage=missing&tag=latest")
    assert reply.status == 404
    assert reply.message == "manifest for missing:latest not found: manifest unknown: manifest unknown"


def test_pull_error_after_progress_ends_the_stream_in_band(api: ServerThread) -> None:
    reply = api.request("POST", "/images/create?fromImage=broken&tag=latest")
    assert reply.status == 200
    assert _lines(reply.body)[-1] == {"errorDetail": {"message": "unexpected EOF"}, "error": "unexpected EOF"}


def test_import_from_body(api: ServerThread) -> None:
    reply = api.request(
        "POST",
        "/images/create?fromSrc=-&repo=imported&tag=v1",
        raw=b"not really a tarball, but the fake counts bytes",
        headers={"Content-Type": "application/x-tar"},
    )
    assert reply.status == 200
    assert str(_lines(reply.body)[-1]["status"]).startswith("sha256:")
    assert api.request("GET", "/images/imported:v1/json").status == 200


def test_import_from_a_url_is_refused_clearly(api: ServerThread) -> None:
    reply = api.request("POST", "/images/create?fromSrc=http://example.com/rootfs.tar")
    assert reply.status == 501
    assert "importing from a URL is not supported" in reply.message


def test_create_needs_a_source(api: ServerThread) -> None:
    assert api.request("POST", "/images/create").status == 400


def test_list_shapes_follow_the_version(api: ServerThread) -> None:
    api.request("POST", "/images/create?fromImage=busybox&tag=latest")

    async def untag() -> None:
        from dataclasses import replace

        images = api.engine.images.images
        for key, image in list(images.items()):
            if "busybox:latest" in image.repo_tags:
                images[key] = replace(image, repo_tags=(), repo_digests=())

    api.call(untag())
    old = api.request("GET", "/v1.42/images/json").json()
    new = api.request("GET", "/v1.45/images/json").json()
    assert any(
        row["RepoTags"] == ["<none>:<none>"] and row["RepoDigests"] == ["<none>@<none>"] for row in old
    )
    assert any(row["RepoTags"] == [] for row in new)
    assert all("VirtualSize" in row for row in old)
    assert all("VirtualSize" not in row for row in new)
    assert all(row["SharedSize"] == -1 for row in new)
    shared = api.request("GET", "/v1.45/images/json?shared-size=1").json()
    assert all(row["SharedSize"] == 0 for row in shared)


def test_list_bad_filter_is_400(api: ServerThread) -> None:
    reply = api.request("GET", '/images/json?filters={"colour":["red"]}'.replace('"', "%22"))
    assert reply.status == 400


def test_inspect_history_and_names_with_slashes(api: ServerThread) -> None:
    api.request("POST", "/images/create?fromImage=localhost:5000/team/app&tag=v2")
    document = api.request("GET", "/images/localhost:5000/team/app:v2/json").json()
    assert document["RepoTags"] == ["localhost:5000/team/app:v2"]
    assert document["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    assert "Container" not in document
    assert "VirtualSize" not in document
    old = api.request("GET", "/v1.43/images/localhost:5000/team/app:v2/json").json()
    assert old["Container"] == ""
    assert old["VirtualSize"] == old["Size"]
    history = api.request("GET", "/images/localhost:5000/team/app:v2/history").json()
    assert history[1]["Id"] == "<missing>"
    assert history[1]["Tags"] is None


def test_unknown_image_is_404(api: ServerThread) -> None:
    reply = api.request("GET", "/images/nosuch/json")
    assert reply.status == 404
    assert reply.message == "No such image: nosuch"


def test_tag_answers_201(api: ServerThread) -> None:
    assert api.request("POST", "/images/alpine/tag?repo=myalpine&tag=v1").status == 201
    assert "myalpine:v1" in api.request("GET", "/images/alpine/json").json()["RepoTags"]


def test_remove_in_use_is_409_and_force_removes(api: ServerThread) -> None:
    api.create(cmd=["sleep"])
    reply = api.request("DELETE", "/images/alpine")
    assert reply.status == 409
    assert reply.message.startswith('conflict: unable to remove repository reference "alpine" (must force)')
    removed = api.request("DELETE", "/images/alpine?force=1").json()
    assert removed[0] == {"Untagged": "alpine:latest"}
    assert removed[-1]["Deleted"].startswith("sha256:")


def test_save_and_load_round_trip(api: ServerThread) -> None:
    saved = api.request("GET", "/images/get?names=alpine")
    assert saved.status == 200
    assert saved.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(saved.body)) as archive:
        assert "repositories" in archive.getnames()
    single = api.request("GET", "/images/alpine/get")
    assert single.body == saved.body
    api.request("DELETE", "/images/alpine")
    loaded = api.request(
        "POST", "/images/load?quiet=0", raw=saved.body, headers={"Content-Type": "application/x-tar"}
    )
    lines = _lines(loaded.body)
    assert lines[-1] == {"stream": "Loaded image: alpine:latest\n"}
    assert lines[0]["status"] == "Loading layer"
    quiet = api.request("POST", "/images/load", raw=saved.body, headers={"Content-Type": "application/x-tar"})
    assert _lines(quiet.body) == [{"stream": "Loaded image: alpine:latest\n"}]


def test_save_of_unknown_image_is_404(api: ServerThread) -> None:
    reply = api.request("GET", "/images/get?names=nosuch")
    assert reply.status == 404


def test_load_of_garbage_is_an_error(api: ServerThread) -> None:
    reply = api.request("POST", "/images/load", raw=b"garbage", headers={"Content-Type": "application/x-tar"})
    assert reply.status == 400
    assert "invalid archive" in reply.message


def test_prune(api: ServerThread) -> None:
    assert api.request("POST", "/images/prune").json() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
