"""Image commands against a fake Engine API: requests and docker's output (docker 28.2.2's)."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from dockyard.cli.commands.reference import parse_normalized
from dockyard.errors import InvalidArgument
from tests.unit.cli.fakeapi import Reply, error, json_lines

NOW = int(time.time())
IMAGES = [
    {
        "Id": "sha256:" + "a" * 64,
        "RepoTags": ["alpine:latest", "localhost:5000/alpine:v1"],
        "RepoDigests": ["alpine@sha256:" + "b" * 64],
        "Created": NOW - 100 * 86400,
        "Size": 5570000,
        "Containers": -1,
        "SharedSize": -1,
    },
    {
        "Id": "sha256:" + "c" * 64,
        "RepoTags": [],
        "RepoDigests": [],
        "Created": NOW - 240 * 86400,
        "Size": 13300,
    },
]


@pytest.fixture
def images(engine):
    engine.route("GET", "/images/json", Reply(200, IMAGES))
    return engine


def test_images_table(images, dockyard) -> None:
    assert dockyard("images").out.splitlines() == [
        "REPOSITORY              TAG       IMAGE ID       CREATED        SIZE",
        "alpine                  latest    aaaaaaaaaaaa   3 months ago   5.57MB",
        "localhost:5000/alpine   v1        aaaaaaaaaaaa   3 months ago   5.57MB",
        "<none>                  <none>    cccccccccccc   8 months ago   13.3kB",
    ]
    assert images.calls()[0].raw_query == ""


def test_images_digests_and_name_filter(images, dockyard) -> None:
    lines = dockyard("image", "ls", "-a", "--digests", "alpine").out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[0].index("IMAGE ID") == lines[1].index("aaaaaaaaaaaa")
    assert lines[1].startswith("alpine                  latest    sha256:" + "b" * 64)
    assert lines[2].startswith("localhost:5000/alpine   v1        <none>   ")
    assert images.calls()[0].raw_query == "all=1&filters=%7B%22reference%22%3A%7B%22alpine%22%3Atrue%7D%7D"


def test_images_quiet_repeats_ids_per_tag(images, dockyard) -> None:
    assert dockyard("images", "-q").out == "aaaaaaaaaaaa\naaaaaaaaaaaa\ncccccccccccc\n"


def test_images_template_and_json(images, dockyard) -> None:
    assert dockyard("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").out.splitlines()[0] == (
        "alpine:latest 5.57MB"
    )
    row = json.loads(dockyard("images", "--format", "json").out.splitlines()[2])
    assert row["Repository"] == "\u003cnone\u003e"
    assert (row["Containers"], row["SharedSize"], row["UniqueSize"]) == ("0", "0B", "13.3kB")


def test_pull_prints_dockers_lines_and_the_reference(engine, dockyard) -> None:
    engine.route(
        "POST",
        "/images/create",
        Reply(
            stream=json_lines(
                {"status": "Pulling from library/alpine", "id": "latest"},
                {"status": "Pulling fs layer", "progressDetail": {}, "id": "df20fa9351a1"},
                {"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "df20fa9351a1"},
                {"status": "Pull complete", "progressDetail": {}, "id": "df20fa9351a1"},
                {"status": "Digest: sha256:" + "1" * 64},
                {"status": "Status: Downloaded newer image for alpine:latest"},
            )
        ),
    )
    result = dockyard("image", "pull", "alpine")
    assert result.status == 0
    assert result.out == (
        "Using default tag: latest\nlatest: Pulling from library/alpine\ndf20fa9351a1: Pulling fs layer\n"
        "df20fa9351a1: Pull complete\nDigest: sha256:" + "1" * 64 + "\n"
        "Status: Downloaded newer image for alpine:latest\ndocker.io/library/alpine:latest\n"
    )
    request = engine.calls("POST")[0]
    assert request.raw_query == "fromImage=docker.io%2Flibrary%2Falpine&tag=latest"
    assert request.headers["x-registry-auth"] == "e30="


def test_pull_quiet_prints_only_the_reference(engine, dockyard) -> None:
    engine.route("POST", "/images/create", Reply(stream=json_lines({"status": "Pulling"})))
    assert dockyard("pull", "-q", "localhost:5000/team/app:v2").out == "localhost:5000/team/app:v2\n"
    assert engine.calls("POST")[0].raw_query == "fromImage=localhost%3A5000%2Fteam%2Fapp&tag=v2"


def test_pull_by_digest_sends_the_digest_as_tag(engine, dockyard) -> None:
    engine.route("POST", "/images/create", Reply(stream=[]))
    digest = "sha256:" + "d" * 64
    assert dockyard("pull", f"alpine@{digest}").out == f"docker.io/library/alpine@{digest}\n"
    assert engine.calls("POST")[0].q("tag") == digest


def test_pull_error_in_stream_and_from_daemon(engine, dockyard) -> None:
    engine.route(
        "POST",
        "/images/create",
        Reply(stream=json_lines({"errorDetail": {"message": "unauthorized"}, "error": "x"})),
    )
    result = dockyard("pull", "private")
    assert (result.status, result.err) == (1, "unauthorized\n")
    engine.route("POST", "/images/create", error(404, "manifest for nope:latest not found: manifest unknown"))
    result = dockyard("pull", "nope")
    assert (result.status, result.out) == (1, "Using default tag: latest\n")
    assert result.err == "Error response from daemon: manifest for nope:latest not found: manifest unknown\n"


def test_pull_sends_credentials_from_config(engine, dockyard, tmp_path) -> None:
    engine.route("POST", "/images/create", Reply(stream=[]))
    config = {"auths": {"localhost:5000": {"auth": base64.b64encode(b"user:secret").decode()}}}
    (tmp_path / "home" / ".docker").mkdir()
    (tmp_path / "home" / ".docker" / "config.json").write_text(json.dumps(config))
    dockyard("pull", "-q", "localhost:5000/app")
    header = engine.calls("POST")[0].headers["x-registry-auth"]
    decoded = json.loads(base64.urlsafe_b64decode(header))
    assert decoded == {"username": "user", "password": "secret", "serveraddress": "localhost:5000"}


def test_rmi_prints_untagged_and_deleted(engine, dockyard) -> None:
    engine.route(
        "DELETE",
        "/images/alpine",
        Reply(200, [{"Untagged": "alpine:latest"}, {"Deleted": "sha256:" + "a" * 64}]),
    )
    engine.route("DELETE", "/images/gone", error(404, "No such image: gone:latest"))
    result = dockyard("rmi", "-f", "alpine", "gone")
    assert (result.status, result.out) == (0, f"Untagged: alpine:latest\nDeleted: sha256:{'a' * 64}\n")
    assert result.err == "Error response from daemon: No such image: gone:latest\n"
    assert {r.raw_query for r in engine.calls("DELETE")} == {"force=1"}


def test_rmi_conflict_fails(engine, dockyard) -> None:
    message = (
        'conflict: unable to remove repository reference "alpine" (must force) - container 1 is using it'
    )
    engine.route("DELETE", "/images/alpine", error(409, message))
    result = dockyard("image", "rm", "alpine")
    assert (result.status, result.err) == (1, f"Error response from daemon: {message}\n")


def test_tag_normalises_the_target(engine, dockyard) -> None:
    engine.route("POST", "/images/alpine/tag", Reply(201))
    assert dockyard("tag", "alpine", "foo").status == 0
    assert engine.calls("POST")[0].raw_query == "repo=docker.io%2Flibrary%2Ffoo&tag=latest"


def test_history_table(engine, dockyard) -> None:
    engine.route(
        "GET",
        "/images/alpine/history",
        Reply(
            200,
            [
                {
                    "Id": "sha256:" + "a" * 64,
                    "Created": NOW - 3 * 86400,
                    "CreatedBy": '/bin/sh -c #(nop)  CMD ["/bin/sh"]',
                    "Size": 0,
                    "Comment": "",
                },
                {
                    "Id": "<missing>",
                    "Created": NOW - 3 * 86400,
                    "CreatedBy": "/bin/sh -c #(nop) ADD file:" + "f" * 64,
                    "Size": 5570000,
                    "Comment": "imported",
                },
            ],
        ),
    )
    assert dockyard("history", "alpine").out.splitlines() == [
        "IMAGE          CREATED      CREATED BY                                      SIZE      COMMENT",
        'aaaaaaaaaaaa   3 days ago   /bin/sh -c #(nop)  CMD ["/bin/sh"]              0B        ',
        "<missing>      3 days ago   /bin/sh -c #(nop) ADD file:fffffffffffffffff…   5.57MB    imported",
    ]


def test_save_writes_the_archive(engine, dockyard, tmp_path) -> None:
    engine.route("GET", "/images/get", Reply(stream=[b"tar", b"ball"]))
    target = tmp_path / "out.tar"
    assert dockyard("save", "-o", str(target), "alpine", "busybox").status == 0
    assert target.read_bytes() == b"tarball"
    assert engine.calls()[0].raw_query == "names=alpine&names=busybox"


def test_load_streams_stdin_and_shows_the_result(engine, dockyard) -> None:
    engine.route(
        "POST", "/images/load", Reply(stream=json_lines({"stream": "Loaded image: alpine:latest\n"}))
    )
    result = dockyard("load", stdin=b"archive-bytes")
    assert result.out == "Loaded image: alpine:latest\n"
    request = engine.calls("POST")[0]
    assert (request.body, request.raw_query) == (b"archive-bytes", "quiet=1")
    assert request.headers["content-type"] == "application/x-tar"


def test_import_from_file(engine, dockyard, tmp_path) -> None:
    engine.route("POST", "/images/create", Reply(stream=json_lines({"status": "sha256:1234"})))
    archive = tmp_path / "rootfs.tar"
    archive.write_bytes(b"tar")
    result = dockyard("import", "-m", "msg", "-c", "ENV A=1", str(archive), "foo:bar")
    assert result.out == "sha256:1234\n"
    request = engine.calls("POST")[0]
    assert request.raw_query == "changes=ENV+A%3D1&fromSrc=-&message=msg&repo=foo%3Abar"
    assert request.body == b"tar"


def test_image_inspect(engine, dockyard) -> None:
    engine.route("GET", "/images/alpine/json", Reply(200, {"Id": "sha256:1", "RepoTags": ["alpine:latest"]}))
    assert (
        dockyard("image", "inspect", "-f", "{{.RepoTags}} {{.Id}}", "alpine").out
        == "[alpine:latest] sha256:1\n"
    )


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        pytest.param("alpine", "docker.io/library/alpine", "alpine", id="official"),
        pytest.param("alpine:3.2", "docker.io/library/alpine:3.2", "alpine:3.2", id="tag"),
        pytest.param("user/app", "docker.io/user/app", "user/app", id="user-repo"),
        pytest.param("index.docker.io/library/x", "docker.io/library/x", "x", id="index-alias"),
        pytest.param("localhost/app", "localhost/app", "localhost/app", id="localhost"),
        pytest.param("registry:5000/a/b:v1", "registry:5000/a/b:v1", "registry:5000/a/b:v1", id="port"),
        pytest.param(
            "gcr.io/google-containers/git-sync:v3.1.5",
            "gcr.io/google-containers/git-sync:v3.1.5",
            "gcr.io/google-containers/git-sync:v3.1.5",
            id="domain",
        ),
        pytest.param("user/a__b.c-d--e", "docker.io/user/a__b.c-d--e", "user/a__b.c-d--e", id="separators"),
        pytest.param("[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app", id="ipv6"),
    ],
)
def test_reference_normalisation(text, full, familiar) -> None:
    ref = parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("Alpine", "repository name (library/Alpine) must be lowercase", id="uppercase"),
        pytest.param("a" * 64, "cannot specify 64-byte hexadecimal strings", id="hex-id"),
        pytest.param("alpine:", "invalid reference format", id="empty-tag"),
        pytest.param("-bad", "invalid reference format", id="leading-dash"),
        pytest.param("a//b", "invalid reference format", id="empty-component"),
        pytest.param("alpine@sha256:abc", "invalid reference format", id="short-digest"),
    ],
)
def test_reference_refuses(text, message) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        parse_normalized(text)
