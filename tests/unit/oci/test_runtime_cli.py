"""OciRuntime: runc's grammar, error parsing, and both faces against a fake runtime script."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.oci.runtime_cli import OciRuntime, RuntimeState, error_from_output

FAKE = r"""#!/bin/sh
# A runc stand-in: records its argv and environment, answers like runc.
log=$4
printf '%s\n' "$*" >> "$0.calls"
env > "$0.env"
shift 6
[ "$1" = "--systemd-cgroup" ] && shift
case "$1" in
  state)
    if [ "$2" = missing ]; then
      echo '{"level":"error","msg":"container does not exist","time":"2024-01-02T03:04:05Z"}' >> "$log"
      echo "container does not exist" >&2; exit 1
    fi
    printf '{"ociVersion":"1.0.2","id":"%s","pid":42,"status":"running","bundle":"/b",' "$2"
    echo '"created":"2024-01-02T03:04:05Z","annotations":{"k":"v"}}' ;;
  ps) echo '[1,2,3]' ;;
  kill|pause|resume|delete) exit 0 ;;
  update) cat "$3" > "$0.resources" ;;
  start)
    printf '%s\n' '{"level":"info","msg":"fine"}' '{"level":"error","msg":"first"}' \
      '{"level":"error","msg":"cannot start a container that has stopped"}' >> "$log"
    exit 1 ;;
  create) echo "plain failure" >&2; exit 2 ;;
  exec) sleep 5 ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    script = tmp_path / "fake-runc"
    script.write_text(FAKE)
    script.chmod(0o755)
    return script


def _runtime(fake: Path, tmp_path: Path, **kwargs: object) -> OciRuntime:
    return OciRuntime(fake, root=tmp_path / "root", args=["--systemd-cgroup"], **kwargs)  # type: ignore[arg-type]


def test_argv_is_runc_grammar() -> None:
    runtime = OciRuntime("/usr/bin/runc", root="/run/r", args=["--systemd-cgroup"])
    create = OciRuntime.create_args("c1", bundle="/b", pid_file="/p", console_socket="/s")
    assert runtime.argv(create, log="/l") == [
        "/usr/bin/runc", "--root", "/run/r", "--log", "/l", "--log-format", "json", "--systemd-cgroup",
        "create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "c1",
    ]  # fmt: skip
    assert OciRuntime.exec_args("c1", process="/p.json", pid_file="/p", console_socket="/s") == [
        "exec", "--process", "/p.json", "--detach", "--pid-file", "/p",
        "--tty", "--console-socket", "/s", "c1",
    ]  # fmt: skip
    assert OciRuntime.exec_args("c1", process="/p.json", pid_file="/p")[-1] == "c1"
    assert OciRuntime.kill_args("c1", "TERM", all=True) == ["kill", "--all", "c1", "TERM"]
    assert OciRuntime.delete_args("c1", force=True) == ["delete", "--force", "c1"]
    assert OciRuntime.delete_args("c1") == ["delete", "c1"]


@pytest.mark.parametrize(
    ("log", "stderr", "kind", "message"),
    [
        pytest.param(
            '{"level":"warning","msg":"w"}\n{"level":"error","msg":"first"}\n{"level":"error","msg":"last"}\n',
            "ignored", errors.RuntimeFailed, "last", id="last-json-error-wins",
        ),
        pytest.param("", "time=x level=error\nexec failed: boom\n", errors.RuntimeFailed, "exec failed: boom",
                     id="stderr-fallback"),
        pytest.param('{"level":"error","msg":"container does not exist"}\n', "", errors.NotFound,
                     "container does not exist", id="does-not-exist-is-not-found"),
        pytest.param("", "", errors.RuntimeFailed, "runc kill: exit status 2", id="silent"),
        pytest.param('{"level":"fatal","msg":"crun: x"}\n{"torn', "", errors.RuntimeFailed, "crun: x",
                     id="fatal-and-torn-line"),
    ],
)  # fmt: skip
def test_error_from_output(log: str, stderr: str, kind: type[errors.DockyardError], message: str) -> None:
    error = error_from_output(log, stderr, status=2, what="runc kill")
    assert type(error) is kind
    assert str(error) == message
    if isinstance(error, errors.RuntimeFailed):
        assert error.status == 2


def test_state_is_parsed(fake: Path, tmp_path: Path) -> None:
    state = asyncio.run(_runtime(fake, tmp_path).state("c1"))
    assert (state.id, state.pid, state.status, state.bundle, state.annotations) == (
        "c1",
        42,
        "running",
        "/b",
        {"k": "v"},
    )


def test_missing_container_is_not_found_and_logs_are_removed(fake: Path, tmp_path: Path) -> None:
    runtime = _runtime(fake, tmp_path)
    with pytest.raises(errors.NotFound, match="container does not exist"):
        asyncio.run(runtime.state("missing"))
    assert os.listdir(runtime.log_dir) == []
    assert runtime.log_dir == str(tmp_path / "root") + ".logs"


def test_failure_carries_the_last_error_and_status(fake: Path, tmp_path: Path) -> None:
    with pytest.raises(errors.RuntimeFailed, match="cannot start a container that has stopped") as caught:
        asyncio.run(_runtime(fake, tmp_path).start("c1"))
    assert caught.value.status == 1


def test_control_calls_send_runc_arguments(fake: Path, tmp_path: Path) -> None:
    runtime = _runtime(fake, tmp_path)

    async def body() -> list[int]:
        await runtime.kill("c1", 9, all=True)
        await runtime.pause("c1")
        await runtime.resume("c1")
        await runtime.delete("c1", force=True)
        await runtime.update("c1", {"memory": {"limit": 1024}})
        return await runtime.ps("c1")

    assert asyncio.run(body()) == [1, 2, 3]
    calls = [line.split(" ", 7)[7] for line in Path(f"{fake}.calls").read_text().splitlines()]
    assert calls[:4] == ["kill --all c1 9", "pause c1", "resume c1", "delete --force c1"]
    assert calls[4].startswith("update --resources ")
    assert calls[4].endswith(" c1")
    assert calls[5] == "ps --format json c1"
    assert Path(f"{fake}.resources").read_text() == '{"memory":{"limit":1024}}'
    assert os.listdir(runtime.log_dir) == []  # per-call logs and the resources file are gone
    environment = dict(line.split("=", 1) for line in Path(f"{fake}.env").read_text().splitlines())
    assert environment.get("PATH", "").startswith("/usr/local/sbin")
    assert "HOME" not in environment  # the runtime gets no environment of ours


def test_sync_run_reads_plain_errors_from_the_shared_log(fake: Path, tmp_path: Path) -> None:
    shared = tmp_path / "runtime.log"
    shared.write_text('{"level":"error","msg":"from an earlier call"}\n')
    runtime = _runtime(fake, tmp_path, log=shared)
    with pytest.raises(errors.RuntimeFailed, match=r"^plain failure$") as caught:
        runtime.run(OciRuntime.create_args("c1", bundle="/b", pid_file="/p"))
    assert caught.value.status == 2
    assert shared.exists()  # a shared log is kept


def test_sync_run_times_out_and_reaps(fake: Path, tmp_path: Path) -> None:
    runtime = _runtime(fake, tmp_path)
    with pytest.raises(errors.RuntimeFailed, match="timed out"):
        runtime.run(OciRuntime.exec_args("c1", process="/p", pid_file="/p"), timeout=0.2)


def test_missing_binary_is_a_runtime_failure(tmp_path: Path) -> None:
    with pytest.raises(errors.RuntimeFailed, match="No such file"):
        OciRuntime(tmp_path / "nope", root=tmp_path).run(["state", "x"])


def test_state_document_must_be_a_state() -> None:
    with pytest.raises(errors.RuntimeFailed):
        RuntimeState.from_json({"id": "x"})
