"""monitor.protocol: messages, errors as data, frames, times, exit records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.monitor import protocol
from dockyard.monitor.protocol import ExitRecord


def _record(**changes: object) -> ExitRecord:
    fields: dict[str, object] = {
        "exit_code": 137,
        "signal": 9,
        "oom_killed": True,
        "started_at": "2024-01-02T03:04:05.123456789Z",
        "finished_at": "2024-01-02T03:04:06Z",
        "pid": 4242,
    }
    fields.update(changes)
    return ExitRecord(**fields)  # type: ignore[arg-type]


def test_message_round_trip_carries_the_version() -> None:
    line = protocol.encode({"op": "attach", "stdin": True})
    assert line.endswith(b"\n")
    assert protocol.decode(line) == {"v": 1, "op": "attach", "stdin": True}


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b'{"v":2,"op":"start"}', id="future-version"),
        pytest.param(b'{"op":"start"}', id="no-version"),
        pytest.param(b"[1,2]", id="not-an-object"),
        pytest.param(b"{nope", id="bad-json"),
        pytest.param(b'{"v":1,"x":"' + b"a" * protocol.MAX_MESSAGE + b'"}', id="too-long"),
    ],
)
def test_decode_refuses_malformed_or_foreign_messages(line: bytes) -> None:
    with pytest.raises(errors.InvalidArgument):
        protocol.decode(line)


def test_decode_tolerates_unknown_fields() -> None:
    assert protocol.decode(b'{"v":1,"ok":true,"later":{"x":1}}')["later"] == {"x": 1}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        pytest.param(errors.NoSuchContainer("abc"), "NotFound", id="specific-travels-as-kind"),
        pytest.param(errors.RuntimeFailed("boom", status=2), "RuntimeFailed", id="runtime"),
        pytest.param(errors.AlreadyStarted("abc"), "NotModified", id="not-modified"),
        pytest.param(errors.MonitorLost("gone"), "MonitorLost", id="monitor-lost"),
        pytest.param(ValueError("surprise"), "SystemFailure", id="foreign"),
    ],
)
def test_errors_travel_as_their_kind(exc: BaseException, kind: str) -> None:
    data = protocol.error_to_data(exc)
    assert data["kind"] == kind
    rebuilt = protocol.error_from_data(data)
    assert type(rebuilt).__name__ == kind
    assert str(rebuilt) == str(exc)


def test_runtime_failure_keeps_its_status() -> None:
    rebuilt = protocol.error_from_data(protocol.error_to_data(errors.RuntimeFailed("x", status=3)))
    assert isinstance(rebuilt, errors.RuntimeFailed)
    assert rebuilt.status == 3


def test_unwrap_raises_the_answer_error() -> None:
    answer = protocol.decode(protocol.encode({"error": {"kind": "Conflict", "message": "exited"}}))
    with pytest.raises(errors.Conflict, match="exited"):
        protocol.unwrap(answer)
    assert protocol.unwrap(protocol.decode(protocol.reply(pid=7)))["pid"] == 7


def test_frame_header_is_dockers_stdcopy_header() -> None:
    # moby pkg/stdcopy: [stream, 0, 0, 0, size (big endian uint32)]
    assert protocol.frame_header(protocol.STDERR, 258) == b"\x02\x00\x00\x00\x00\x00\x01\x02"
    assert protocol.parse_frame_header(b"\x01\x00\x00\x00\x00\x00\x00\x05") == (1, 5)
    with pytest.raises(errors.InvalidArgument):
        protocol.parse_frame_header(b"\x01\x00\x01\x00\x00\x00\x00\x05")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        pytest.param(1704164645_123456789, "2024-01-02T03:04:05.123456789Z", id="nanoseconds"),
        pytest.param(1704164645_120000000, "2024-01-02T03:04:05.12Z", id="trailing-zeros-trimmed"),
        pytest.param(1704164645_000000000, "2024-01-02T03:04:05Z", id="whole-second"),
        pytest.param(0, "1970-01-01T00:00:00Z", id="epoch"),
    ],
)
def test_format_time_is_go_rfc3339nano(ns: int, text: str) -> None:
    assert protocol.format_time(ns) == text
    assert protocol.parse_time(text) == ns


def test_parse_time_honours_offsets() -> None:
    assert protocol.parse_time("2024-01-02T04:04:05.5+01:00") == 1704164645_500000000


@pytest.mark.parametrize("text", ["2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z", "x" * 25])
def test_parse_time_refuses_non_rfc3339(text: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        protocol.parse_time(text)


def test_exit_status_of_a_signal_is_128_plus_n() -> None:
    assert protocol.exit_status(9) == (137, 9)  # waitpid status of death by SIGKILL
    assert protocol.exit_status(3 << 8) == (3, None)


def test_exit_record_round_trips_through_its_file(tmp_path: Path) -> None:
    record = _record()
    (tmp_path / protocol.EXIT_RECORD).write_text(protocol.encode(record.to_json()).decode())
    assert protocol.read_exit_record(tmp_path) == record


def test_missing_exit_record_is_none(tmp_path: Path) -> None:
    assert protocol.read_exit_record(tmp_path) is None


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('{"v":2,"exit_code":0}', id="future-version"),
        pytest.param('{"v":1,"exit_code":"0"}', id="wrong-type"),
        pytest.param('{"v":1,"exit_code":0,', id="truncated"),
    ],
)
def test_corrupt_exit_record_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / protocol.EXIT_RECORD).write_text(content)
    with pytest.raises(errors.CorruptRecord):
        protocol.read_exit_record(os.fspath(tmp_path))


@pytest.mark.parametrize("pid", [0, 1, 42, 4194304, 2**31 - 1])
def test_the_start_answer_is_the_reply_the_json_encoder_would_give(pid: int) -> None:
    assert protocol.started(pid) == protocol.reply(pid=pid)
    assert protocol.unwrap(protocol.decode(protocol.started(pid)[:-1])) == {"v": 1, "ok": True, "pid": pid}
