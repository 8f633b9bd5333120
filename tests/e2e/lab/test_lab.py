"""The lab of seed 000 ("First Alpine Linux Containers"), every command in order, with each client.

The commands are the lab's, verbatim, with one change a user of this machine would make: there is
no Docker Hub here, so images come from the test registry (``<reg>/library/hello-world``,
``<reg>/library/alpine``) and are tagged ``hello-world`` and ``alpine`` with ``docker image tag``;
from then on the lab's own names are used. Each step asserts what the lab shows (and what dockerd
prints for the same fixture images: see ``docker_output``). The interactive steps run the client
on a pseudo-terminal and type into it, as a user would.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime

from dockyard.util.humantime import human_duration
from tests.e2e.compat.schema import engine_api, spec_version_for
from tests.e2e.lab.clis import available_clis, human_size, parse_table
from tests.e2e.lab.conftest import LabSession
from tests.e2e.lab.docker_output import (
    ROOT_LISTING,
    check_pull_lines,
    docker_image_size,
    listing,
    short_layer_ids,
)
from tests.support.oci_layouts import CREATED, HELLO, fixture

PROMPT = r"/ # "
RECENT = r"(Less than a second|1 second|\d+ seconds|About a minute)"
NAME = re.compile(r"^[a-z]+_[a-z]+[0-9]?$")  # a digit follows a name that was taken (moby namesgenerator)
PS_HEADER = "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"
IMAGE_HEADER = re.compile(r"^REPOSITORY {3,}TAG {3,}IMAGE ID {3,}CREATED {3,}SIZE$")
CREATED_SINCE = human_duration(time.time() - datetime.fromisoformat(CREATED).timestamp()) + " ago"


def test_required_clients_are_installed() -> None:
    names = {cli.name for cli in available_clis()}
    assert {"docker-20.10", "dockyard"} <= names


def _ps_rows(lab: LabSession, *args: str) -> list[dict[str, str]]:
    result = lab.run("container", "ls", *args).ok()
    assert result.stderr == ""
    return parse_table(result.stdout)


def _check_exited_row(row: dict[str, str], cid: str, image: str, command: str, code: int = 0) -> None:
    assert row["CONTAINER ID"] == cid[:12]
    assert row["IMAGE"] == image
    assert row["COMMAND"] == command
    assert re.fullmatch(rf"{RECENT} ago", row["CREATED"]), row
    assert re.fullmatch(rf"Exited \({code}\) {RECENT} ago", row["STATUS"]), row
    assert row["PORTS"] == ""
    assert NAME.match(row["NAMES"]), row


def _unique_prefix(cid: str, others: set[str]) -> str:
    """The shortest prefix of ``cid`` (at least 4 characters, like the lab's "3030") no other ID has."""
    for length in range(4, 65):
        prefix = cid[:length]
        if not any(other.startswith(prefix) for other in others - {cid}):
            return prefix
    raise AssertionError("IDs collide")


class TestLab:
    """Seed 000, step by step (a walk: see tests/e2e/conftest.py)."""

    walk = True

    # --- 1.0 Running your first container ------------------------------------------------------

    def test_01_container_run_hello_world(self, lab: LabSession) -> None:
        before = lab.container_ids()
        ref = f"{lab.reg}/library/hello-world"
        first = lab.run("container", "run", ref).ok()
        lab.remember_new("hello-world", before)
        lab.run("image", "tag", ref, "hello-world").ok()
        assert first.stdout == "\n" + HELLO + "\n"
        lines = first.stderr.splitlines()
        assert lines[0] == f"Unable to find image '{ref}:latest' locally"
        check_pull_lines(
            lines,
            fixture("hello-world"),
            tag="latest",
            path="library/hello-world",
            digest=lab.registry.digests["library/hello-world:latest"],
            reference=f"{ref}:latest",
        )

    # --- 1.1 Docker Images -------------------------------------------------------------------

    def test_02_image_pull_alpine(self, lab: LabSession) -> None:
        ref = f"{lab.reg}/library/alpine"
        result = lab.run("image", "pull", ref).ok()
        lines = result.stdout.splitlines()
        assert lines[0] == "Using default tag: latest"
        check_pull_lines(
            lines,
            fixture("alpine"),
            tag="latest",
            path="library/alpine",
            digest=lab.registry.digests["library/alpine:latest"],
            reference=f"{ref}:latest",
            present={short_layer_ids(fixture("hello-world"))[0]},  # the shared busybox layer
        )
        assert lines[-1] == f"{ref}:latest"
        assert result.stderr == ""
        tagged = lab.run("image", "tag", ref, "alpine").ok()
        assert (tagged.stdout, tagged.stderr) == ("", "")

    def test_03_image_ls(self, lab: LabSession) -> None:
        result = lab.run("image", "ls").ok()
        assert IMAGE_HEADER.match(result.stdout.splitlines()[0]), result.stdout
        rows = {(r["REPOSITORY"], r["TAG"]): r for r in parse_table(result.stdout)}
        assert set(rows) == {
            ("alpine", "latest"),
            ("hello-world", "latest"),
            (f"{lab.reg}/library/alpine", "latest"),
            (f"{lab.reg}/library/hello-world", "latest"),
        }
        api = {row["Id"]: row for row in lab.daemon.request("GET", "/images/json").json()}
        for (repository, _), row in rows.items():
            image = fixture("alpine" if "alpine" in repository else "hello-world")
            assert row["IMAGE ID"] == image.image_id.removeprefix("sha256:")[:12]
            assert row["CREATED"] == CREATED_SINCE
            assert row["SIZE"] == human_size(api[image.image_id]["Size"])

    # --- 1.1 Docker Container Run --------------------------------------------------------------

    def test_04_container_run_alpine_ls_l(self, lab: LabSession) -> None:
        before = lab.container_ids()
        result = lab.run("container", "run", "alpine", "ls", "-l").ok()
        lab.remember_new("ls -l", before)
        assert result.stdout.startswith("total ")
        assert listing(result.stdout) == ROOT_LISTING

    def test_05_container_run_alpine_echo(self, lab: LabSession) -> None:
        before = lab.container_ids()
        result = lab.run("container", "run", "alpine", "echo", "hello from alpine").ok()
        lab.remember_new("echo", before)
        assert result.stdout == "hello from alpine\n"

    def test_06_container_run_alpine_sh_exits_at_once(self, lab: LabSession) -> None:
        before = lab.container_ids()
        result = lab.run("container", "run", "alpine", "/bin/sh").ok()
        lab.remember_new("sh", before)
        assert result.stdout == ""
        state = lab.inspect(lab.containers["sh"])["State"]
        assert isinstance(state, dict)
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)

    def test_07_container_run_it_sh(self, lab: LabSession) -> None:
        before = lab.container_ids()
        with lab.terminal("container", "run", "-it", "alpine", "/bin/sh") as term:
            term.expect(PROMPT)
            lab.remember_new("-it sh", before)
            term.type_line("uname -a")
            term.expect(r"Linux [0-9a-f]{12} ")  # the hostname is the short container ID
            term.expect(PROMPT)
            term.type_line("ls -l")
            term.expect(r"linuxrc -> /bin/busybox")
            term.expect(PROMPT)
            term.type_line("exit")
            assert term.wait() == 0
        state = lab.inspect(lab.containers["-it sh"])["State"]
        assert isinstance(state, dict)
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)

    def test_08_container_ls_shows_only_the_header(self, lab: LabSession) -> None:
        result = lab.run("container", "ls").ok()
        assert result.stdout == PS_HEADER + "\n"

    def test_09_container_ls_a(self, lab: LabSession) -> None:
        rows = _ps_rows(lab, "-a")
        expected = [
            ("-it sh", "alpine", '"/bin/sh"'),
            ("sh", "alpine", '"/bin/sh"'),
            ("echo", "alpine", '"echo \'hello from al…"'),
            ("ls -l", "alpine", '"ls -l"'),
            ("hello-world", f"{lab.reg}/library/hello-world", '"/hello"'),
        ]
        assert len(rows) == len(expected), rows
        for row, (step, image, command) in zip(rows, expected, strict=True):
            _check_exited_row(row, lab.containers[step], image, command)

    # --- 1.2 Container Isolation -------------------------------------------------------------

    def test_10_container_run_it_ash_writes_hello_txt(self, lab: LabSession) -> None:
        before = lab.container_ids()
        with lab.terminal("container", "run", "-it", "alpine", "/bin/ash") as term:
            term.expect(PROMPT)
            lab.remember_new("ash", before)
            term.type_line('echo "hello world" > hello.txt')
            term.expect(PROMPT)
            term.type_line("ls")
            term.expect(r"hello\.txt")
            term.expect(PROMPT)
            term.type_line("exit")
            assert term.wait() == 0

    def test_11_a_new_container_has_no_hello_txt(self, lab: LabSession) -> None:
        before = lab.container_ids()
        result = lab.run("container", "run", "alpine", "ls").ok()
        lab.remember_new("ls", before)
        names = result.stdout.split()
        assert "bin" in names
        assert "etc" in names
        assert "hello.txt" not in names

    def test_12_container_ls_a_shows_the_ash_container(self, lab: LabSession) -> None:
        rows = _ps_rows(lab, "-a")
        assert len(rows) == 7
        _check_exited_row(rows[0], lab.containers["ls"], "alpine", '"ls"')
        _check_exited_row(rows[1], lab.containers["ash"], "alpine", '"/bin/ash"')

    def test_13_container_start_by_id_prefix(self, lab: LabSession) -> None:
        cid = lab.containers["ash"]
        prefix = _unique_prefix(cid, lab.container_ids())
        lab.containers["ash prefix"] = prefix
        result = lab.run("container", "start", prefix).ok()
        assert (result.stdout, result.stderr) == (prefix + "\n", "")
        rows = _ps_rows(lab)
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["CONTAINER ID"], row["IMAGE"], row["COMMAND"]) == (cid[:12], "alpine", '"/bin/ash"')
        assert re.fullmatch(rf"Up {RECENT}", row["STATUS"]), row

    def test_14_container_exec_ls_shows_hello_txt(self, lab: LabSession) -> None:
        prefix = lab.containers["ash prefix"]
        result = lab.run("container", "exec", prefix, "ls").ok()
        assert "hello.txt" in result.stdout.split()
        assert lab.run("container", "exec", prefix, "cat", "hello.txt").ok().stdout == "hello world\n"

    # --- 1.3 Terminology: inspect, then stop and remove everything ------------------------------

    def test_15_image_inspect_alpine(self, lab: LabSession) -> None:
        result = lab.run("image", "inspect", "alpine").ok()
        documents = json.loads(result.stdout)
        assert len(documents) == 1
        image = documents[0]
        alpine = fixture("alpine")
        assert image["Id"] == alpine.image_id
        assert sorted(image["RepoTags"]) == sorted(["alpine:latest", f"{lab.reg}/library/alpine:latest"])
        assert image["RepoDigests"] == [
            f"{lab.reg}/library/alpine@{lab.registry.digests['library/alpine:latest']}"
        ]
        assert image["Config"]["Cmd"] == ["/bin/sh"]
        assert image["RootFS"] == {"Type": "layers", "Layers": alpine.diff_ids}
        assert (image["Os"], image["Architecture"], image["Created"]) == ("linux", "amd64", CREATED)
        formatted = lab.run("image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", "alpine").ok()
        assert formatted.stdout == f'{alpine.image_id} ["/bin/sh"]\n'

    def test_16_container_inspect(self, lab: LabSession) -> None:
        cid, prefix = lab.containers["ash"], lab.containers["ash prefix"]
        (container,) = json.loads(lab.run("container", "inspect", prefix).ok().stdout)
        assert container["Id"] == cid
        assert (container["Path"], container["Args"]) == ("/bin/ash", [])
        assert container["State"]["Status"] == "running"
        assert container["State"]["Running"] is True
        assert container["Config"]["Hostname"] == cid[:12]
        assert (container["Config"]["Tty"], container["Config"]["OpenStdin"]) == (True, True)
        assert container["Config"]["Image"] == "alpine"
        assert container["Image"] == fixture("alpine").image_id
        status = lab.run("container", "inspect", "-f", "{{.State.Status}} {{.Name}}", prefix).ok()
        assert status.stdout == f"running {container['Name']}\n"

    def test_17_container_stop(self, lab: LabSession) -> None:
        prefix = lab.containers["ash prefix"]
        result = lab.run("container", "stop", prefix, timeout=60).ok()
        assert (result.stdout, result.stderr) == (prefix + "\n", "")
        assert lab.run("container", "ls").ok().stdout == PS_HEADER + "\n"
        # ash as PID 1 ignores SIGTERM: the stop ends with SIGKILL after 10 s, hence 137
        _check_exited_row(_ps_rows(lab, "-a")[1], lab.containers["ash"], "alpine", '"/bin/ash"', 137)

    def test_18_container_rm_everything(self, lab: LabSession) -> None:
        ids = lab.run("container", "ls", "-aq").ok().stdout.split()
        assert sorted(ids) == sorted(cid[:12] for cid in lab.container_ids())
        result = lab.run("container", "rm", *ids).ok()
        assert result.stdout.split() == ids
        assert lab.run("container", "ls", "-a").ok().stdout == PS_HEADER + "\n"

    def test_19_image_rm_everything(self, lab: LabSession) -> None:
        names = ["alpine", f"{lab.reg}/library/alpine", "hello-world", f"{lab.reg}/library/hello-world"]
        result = lab.run("image", "rm", *names).ok()
        lines = result.stdout.splitlines()
        for name in names:
            assert f"Untagged: {name}:latest" in lines
        for image in (fixture("alpine"), fixture("hello-world")):
            assert f"Deleted: {image.image_id}" in lines
        assert lab.daemon.request("GET", "/images/json?all=1").json() == []
        assert len(lab.run("image", "ls").ok().stdout.splitlines()) == 1


class TestSeed004:
    """Seed 004 ("Basics of Docker"): the commands it adds to the lab, with their transcripts."""

    walk = True

    def test_01_image_pull_alpine(self, lab: LabSession) -> None:
        ref = f"{lab.reg}/library/alpine"
        lines = lab.run("image", "pull", ref).ok().stdout.splitlines()
        assert (lines[0], lines[-1]) == ("Using default tag: latest", f"{ref}:latest")
        assert lines[-2] == f"Status: Downloaded newer image for {ref}:latest"
        lab.run("image", "tag", ref, "alpine").ok()

    def test_02_container_run_alpine_ls_la(self, lab: LabSession) -> None:
        result = lab.run("container", "run", "alpine", "ls", "-la").ok()
        dots = [
            ("drwxr-xr-x", "1", "root", "root", "4096", "."),
            ("drwxr-xr-x", "1", "root", "root", "4096", ".."),
            ("-rwxr-xr-x", "1", "root", "root", "0", ".dockerenv"),  # an empty file, as the seed shows
        ]
        assert listing(result.stdout) == dots + ROOT_LISTING

    def test_03_container_run_alpine_sh_does_nothing(self, lab: LabSession) -> None:
        assert lab.run("container", "run", "alpine", "/bin/sh").ok().stdout == ""

    def test_04_container_run_it_sh_ls_la(self, lab: LabSession) -> None:
        with lab.terminal("container", "run", "-it", "alpine", "/bin/sh") as term:
            term.expect(PROMPT)
            term.type_line("ls -la")
            term.expect(r"-rwxr-xr-x +1 root +root +0 .* \.dockerenv")
            term.expect(PROMPT)
            term.type_line("exit")
            assert term.wait() == 0

    def test_05_container_ls_and_ls_a(self, lab: LabSession) -> None:
        assert lab.run("container", "ls").ok().stdout == PS_HEADER + "\n"
        rows = _ps_rows(lab, "-a")
        assert [row["COMMAND"] for row in rows] == ['"/bin/sh"', '"/bin/sh"', '"ls -la"']
        assert all(re.fullmatch(rf"Exited \(0\) {RECENT} ago", row["STATUS"]) for row in rows), rows
        assert len({row["CONTAINER ID"] for row in rows}) == 3  # three different containers


class TestLabSideSteps:
    """What the lab mentions without a transcript, and what it shows next to the commands."""

    def test_container_run_help_lists_the_flags(self, lab: LabSession) -> None:
        result = lab.run("container", "run", "--help").ok()
        assert "Usage:" in result.stdout
        assert "docker container run" in result.stdout.replace("dockyard", "docker")
        for flag in ("-i, --interactive", "-t, --tty", "-d, --detach", "--name string", "--rm"):
            assert flag in result.stdout, flag

    def test_the_daemon_is_found_with_dash_h(self, lab: LabSession) -> None:
        env = lab.cli.env(lab.daemon)
        env.pop(lab.cli.host_variable)
        done = subprocess.run(
            [lab.cli.program, "-H", lab.daemon.host, "container", "ls"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (0, PS_HEADER + "\n"), done.stderr

    def test_container_inspect_fits_the_schema(self, lab: LabSession) -> None:
        """The docker CLI sends ``MemorySwappiness: -1`` ("unset"); inspect must say null, as dockerd
        does (-1 is below the schema's minimum)."""
        lab.run("image", "pull", "-q", f"{lab.reg}/library/alpine").ok()
        created = lab.run("container", "create", f"{lab.reg}/library/alpine", "true").ok().stdout.strip()
        try:
            (document,) = json.loads(lab.run("container", "inspect", created).ok().stdout)
            version = lab.daemon.request("GET", "/version").json()["ApiVersion"]
            negotiated = "1.41" if lab.cli.name == "docker-20.10" else version
            api = engine_api(spec_version_for(negotiated))
            api.validate_response("get", f"/containers/{created}/json", 200, document)
        finally:
            lab.run("container", "rm", created).ok()

    def test_image_size_is_what_dockerd_reports(self, lab: LabSession) -> None:
        """dockerd's size is its graph driver's measure of each unpacked layer (pkg/directory.Size),
        symlinks included: 1985709 bytes for alpine (``image ls``: 1.99MB), not 1982493."""
        lab.run("image", "pull", "-q", f"{lab.reg}/library/alpine").ok()
        alpine = fixture("alpine")
        (row,) = [r for r in lab.daemon.request("GET", "/images/json").json() if r["Id"] == alpine.image_id]
        assert row["Size"] == docker_image_size(alpine)
        details = lab.daemon.request("GET", f"/images/{alpine.image_id}/json").json()
        assert details["Size"] == row["Size"]

    def test_run_prints_only_the_command_output(self, lab: LabSession) -> None:
        lab.run("image", "pull", "-q", f"{lab.reg}/library/alpine").ok()
        result = lab.run("container", "run", "--rm", f"{lab.reg}/library/alpine", "/bin/sh")
        assert (result.rc, result.stdout, result.stderr) == (0, "", "")
