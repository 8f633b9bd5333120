"""Bad input through each client: Docker's message, Docker's exit status, and a store left as it was.

Issue #3's list: an unknown image, an unknown container, an ambiguous ID prefix, a duplicate name,
``rm`` of a running container, ``rmi`` of an image a container uses, a refusing or unreachable
registry (401, 429, 5xx, 404, connection refused) and a blob whose digest does not match. The
expected words are dockerd 20.10's, taken from the same clients against Debian's dockerd with the
same registries (moby's later wording where our API level follows it, said at the assertion).

How a client prints a daemon error differs by client (``docker: Error response from daemon: X.``
then ``See 'docker run --help'.`` for 20.10, ``Run 'docker run --help' for more information`` for
28.2), so the daemon's message is matched as a whole line with that frame allowed around it.
Errors that arrive inside a pull's progress stream are printed bare, as docker does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.lab.clis import Result, available_clis
from tests.e2e.lab.conftest import LabSession
from tests.support.evil_registry import EvilRegistry, open_evil_registry, refused_host
from tests.support.oci_layouts import fixture
from tests.support.registry import RunningRegistry, open_registry

TAMPERED = ["tamper/layer", "tamper/truncated", "tamper/longer"]
# The daemon's answers are what these tests check; Debian's docker and our own client show them
# (docker 28.2 frames them like 20.10, and walks the lab in test_lab).
BAD_INPUT_CLIS = [cli for cli in available_clis() if cli.name in ("docker-20.10", "dockyard")]


def _daemon_error(result: Result, message: str) -> None:
    """``message`` is one whole line of stderr, as docker frames a daemon's error."""
    frame = rf"^(?:\w+: )?Error response from daemon: {re.escape(message)}\.?$"
    assert any(re.match(frame, line) for line in result.stderr.splitlines()), result.stderr


def _says(result: Result, message: str) -> None:
    """``message`` is one whole line of stderr, bare or framed as a daemon error."""
    lines = result.stderr.splitlines()
    framed = rf"^(?:\w+: )?(?:Error response from daemon: )?{re.escape(message)}\.?$"
    assert any(re.match(framed, line) for line in lines), result.stderr


def _store(lab: LabSession) -> tuple[object, object]:
    """Images (ID, tags, digests) and containers (ID, names, state): what must not change."""
    images = sorted(
        (row["Id"], sorted(row["RepoTags"] or []), sorted(row["RepoDigests"] or []))
        for row in lab.daemon.request("GET", "/images/json?all=1").json()
    )
    containers = sorted(
        (row["Id"], row["Names"], row["State"])
        for row in lab.daemon.request("GET", "/containers/json?all=1").json()
    )
    return images, containers


@pytest.fixture(scope="class")
def registries(lab: LabSession) -> Iterator[tuple[EvilRegistry, RunningRegistry]]:
    lab.run("image", "pull", "-q", f"{lab.reg}/library/alpine").ok()
    lab.run("image", "tag", f"{lab.reg}/library/alpine", "alpine").ok()
    with open_evil_registry() as evil, open_registry(auth="htpasswd") as locked:
        yield evil, locked


@pytest.fixture
def bad(lab: LabSession, registries: tuple[EvilRegistry, RunningRegistry]) -> Iterator[LabSession]:
    """The lab's daemon; the store (images, containers) must be as it was when the test ends."""
    before = _store(lab)
    yield lab
    assert _store(lab) == before, "the store changed"


@pytest.mark.parametrize("cli", BAD_INPUT_CLIS, indirect=True, ids=str, scope="class")
class TestBadInput:
    def test_unknown_image_on_run(self, bad: LabSession) -> None:
        ref = f"{bad.reg}/library/nosuch"
        result = bad.run("container", "run", ref)
        assert result.rc == 125
        assert result.stderr.splitlines()[0] == f"Unable to find image '{ref}:latest' locally"
        _says(result, f"manifest for {ref}:latest not found: manifest unknown: manifest unknown")

    def test_unknown_image_on_run_fails_before_pulling(self, bad: LabSession) -> None:
        ref = f"{bad.reg}/library/nosuch"
        result = bad.run("container", "run", ref)
        assert "Pulling from" not in result.stderr  # dockerd fails before it says so
        _daemon_error(result, f"manifest for {ref}:latest not found: manifest unknown: manifest unknown")

    @pytest.mark.parametrize(
        "command", [["rm"], ["start"], ["exec", "-i"], ["container", "inspect"], ["logs"], ["stop"]]
    )
    def test_unknown_container(self, bad: LabSession, command: list[str]) -> None:
        args = [*command, "dyt-nosuch"] + (["ls"] if "exec" in command else [])
        result = bad.run(*args)
        assert result.rc == 1
        assert "No such container: dyt-nosuch" in result.stderr

    def test_ambiguous_prefix(self, bad: LabSession) -> None:
        ids = {bad.run("create", "alpine", "true").ok().stdout.strip() for _ in range(17)}
        prefix = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
        try:
            before = _store(bad)
            result = bad.run("rm", prefix)
            assert result.rc == 1
            # moby since 23.0; dockerd 20.10 said "Multiple IDs found with provided prefix: <p>"
            _daemon_error(result, f"multiple IDs found with provided prefix: {prefix}")
            assert _store(bad) == before
        finally:
            bad.run("rm", *ids).ok()

    def test_duplicate_name(self, bad: LabSession) -> None:
        first = bad.run("create", "--name", "dyt-dup", "alpine", "true").ok().stdout.strip()
        try:
            before = _store(bad)
            result = bad.run("run", "--name", "dyt-dup", "alpine", "true")
            assert result.rc == 125
            _daemon_error(
                result,
                f'Conflict. The container name "/dyt-dup" is already in use by container "{first}". '
                "You have to remove (or rename) that container to be able to reuse that name",
            )
            assert _store(bad) == before
        finally:
            bad.run("rm", "dyt-dup").ok()

    def test_rm_of_a_running_container(self, bad: LabSession) -> None:
        bad.run("run", "-d", "--name", "dyt-running", "alpine", "sleep", "60").ok()
        try:
            before = _store(bad)
            result = bad.run("rm", "dyt-running")
            assert result.rc == 1
            _daemon_error(  # moby's words since 23.0 (seed-features C26)
                result,
                'cannot remove container "/dyt-running": container is running: '
                "stop the container before removing or force remove",
            )
            assert _store(bad) == before
        finally:
            assert bad.run("rm", "-f", "dyt-running").ok().stdout == "dyt-running\n"

    def test_rmi_of_an_image_a_container_uses(self, bad: LabSession) -> None:
        ref = f"{bad.reg}/library/busybox"
        bad.run("pull", "-q", ref).ok()
        image = fixture("busybox").image_id.removeprefix("sha256:")[:12]
        stopped = bad.run("create", ref, "true").ok().stdout.strip()
        running = bad.run("run", "-d", ref, "sleep", "60").ok().stdout.strip()
        try:
            before = _store(bad)
            by_name = bad.run("rmi", ref)
            assert by_name.rc == 1
            _daemon_error(
                by_name,
                f'conflict: unable to remove repository reference "{ref}" (must force) - '
                f"container {stopped[:12]} is using its referenced image {image}",
            )
            forced = bad.run("rmi", "-f", image)
            assert forced.rc == 1
            _daemon_error(
                forced,
                f"conflict: unable to delete {image} (cannot be forced) - "
                f"image is being used by running container {running[:12]}",
            )
            assert _store(bad) == before
            bad.run("rm", "-f", running).ok()
            by_id = bad.run("rmi", image)
            assert by_id.rc == 1
            _daemon_error(
                by_id,
                f"conflict: unable to delete {image} (must be forced) - "
                f"image is being used by stopped container {stopped[:12]}",
            )
        finally:
            bad.run("rm", "-f", stopped, running)
            bad.run("rmi", ref).ok()


def _refusals(evil: EvilRegistry, locked: RunningRegistry, lab: LabSession) -> dict[str, tuple[str, str]]:
    """Case -> (what to pull, dockerd's message), as dockerd 20.10 printed them."""
    refused = refused_host()
    return {
        "401": (
            f"{locked.host}/library/alpine",
            f'Head "http://{locked.host}/v2/library/alpine/manifests/latest": no basic auth credentials',
        ),
        "429": (f"{evil.host}/status/429", "toomanyrequests: You have reached your pull rate limit."),
        "500": (f"{evil.host}/status/500", "received unexpected HTTP status: 500 Internal Server Error"),
        "404 repository": (f"{evil.host}/nosuch/repo", "name unknown"),
        "404 tag": (
            f"{lab.reg}/library/alpine:nosuch",
            f"manifest for {lab.reg}/library/alpine:nosuch not found: manifest unknown: manifest unknown",
        ),
        "refused": (
            f"{refused}/library/alpine",
            f'Get "http://{refused}/v2/": dial tcp {refused}: connect: connection refused',
        ),
    }


# Every refusal fails at once, as in dockerd: a manifest request is not retried (only layers are).
# A 401 must not reach docker as a 401 (it would start an interactive login): dockerd answers 500.
REFUSALS = ["401", "404 repository", "404 tag", "refused", "429", "500"]


def _pull_once(lab: LabSession, cache: dict[tuple[str, str], Result], ref: str) -> Result:
    """``pull ref`` with the class's client, once per class: two tests read each answer."""
    key = (lab.cli.name, ref)
    if key not in cache:
        cache[key] = lab.run("pull", ref)
    return cache[key]


@pytest.fixture(scope="class")
def answers() -> dict[tuple[str, str], Result]:
    """Each class's pulls, by client and reference (``_pull_once``)."""
    return {}


@pytest.fixture(scope="class")
def refusals(lab: LabSession, registries: tuple[EvilRegistry, RunningRegistry]) -> dict[str, tuple[str, str]]:
    return _refusals(*registries, lab)  # once per class: the refused port stays the same


@pytest.mark.parametrize("case", REFUSALS)
@pytest.mark.parametrize("cli", BAD_INPUT_CLIS, indirect=True, ids=str, scope="class")
class TestRefusingRegistries:
    """Pulls the registry refuses or cannot serve: why (first test), and how framed (second)."""

    def test_a_refused_pull_says_why(
        self,
        bad: LabSession,
        refusals: dict[str, tuple[str, str]],
        answers: dict[tuple[str, str], Result],
        case: str,
    ) -> None:
        ref, message = refusals[case]
        result = _pull_once(bad, answers, ref)
        assert result.rc == 1
        _says(result, message)

    def test_a_refused_pull_fails_before_pulling(
        self,
        bad: LabSession,
        refusals: dict[str, tuple[str, str]],
        answers: dict[tuple[str, str], Result],
        case: str,
    ) -> None:
        """dockerd refuses before it says "Pulling from": an HTTP error, which docker frames."""
        ref, message = refusals[case]
        result = _pull_once(bad, answers, ref)
        default_tag = "" if case == "404 tag" else "Using default tag: latest\n"
        assert (result.rc, result.stdout) == (1, default_tag)
        assert result.stderr == f"Error response from daemon: {message}\n"


@pytest.mark.parametrize("cli", BAD_INPUT_CLIS, indirect=True, ids=str, scope="class")
class TestTamperedBlobs:
    """A layer whose bytes do not match its digest: refused, and nothing stored."""

    @pytest.fixture
    def evil(self, bad: LabSession, registries: tuple[EvilRegistry, RunningRegistry]) -> EvilRegistry:
        return registries[0]

    @pytest.fixture
    def without_alpine(self, bad: LabSession) -> Iterator[LabSession]:
        """The lab's daemon with alpine's layers gone (else a pull would find them there)."""
        untagged = bad.run("rmi", "alpine", f"{bad.reg}/library/alpine").ok()
        assert "Deleted: " + fixture("alpine").image_id in untagged.stdout
        try:
            yield bad
        finally:
            bad.run("pull", "-q", f"{bad.reg}/library/alpine").ok()
            bad.run("tag", f"{bad.reg}/library/alpine", "alpine").ok()

    @pytest.mark.parametrize("repository", TAMPERED)
    def test_a_blob_whose_digest_does_not_match(
        self, without_alpine: LabSession, evil: EvilRegistry, repository: str
    ) -> None:
        result = without_alpine.run("pull", f"{evil.host}/{repository}")
        assert result.rc == 1
        assert result.stdout.startswith(f"Using default tag: latest\nlatest: Pulling from {repository}\n")
        assert evil.layer.digest in result.stderr
        assert without_alpine.daemon.request("GET", "/images/json?all=1").json() == []

    @pytest.mark.parametrize("repository", TAMPERED)
    def test_a_blob_whose_digest_does_not_match_in_dockers_words(
        self, without_alpine: LabSession, evil: EvilRegistry, repository: str
    ) -> None:
        result = without_alpine.run("pull", f"{evil.host}/{repository}")
        assert result.stderr == f"filesystem layer verification failed for digest {evil.layer.digest}\n"
