"""The json-file log: Docker's exact bytes, moby's line splitting and rotation, and reading it back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dockyard.monitor import LogEntry, follow_log, read_log
from dockyard.monitor.logfile import MAX_LINE, LineSplitter, LogWriter, encode_entry

NS = 1704164645_123456789
STAMP = "2024-01-02T03:04:05.123456789Z"


def _entry(log: str, stream: str = "stdout", stamp: str = STAMP) -> bytes:
    return ('{"log":"' + log + '","stream":"' + stream + '","time":"' + stamp + '"}\n').encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(b"hello\n", "hello\\n", id="line"),
        pytest.param(b'"q" \\ \r', '\\"q\\" \\\\ \\r', id="quote-backslash-cr"),
        pytest.param(b"\t\x01\x1f\x7f", "\\u0009\\u0001\\u001f\x7f", id="controls-as-u00xx"),
        pytest.param(b"<a>&", "\\u003ca\\u003e\\u0026", id="html-escaped-like-go"),
        pytest.param("é€😀".encode(), "é€😀", id="valid-utf8-raw"),
        pytest.param(b"\xff\xe2\x82A", "\\ufffd\\ufffd\\ufffdA", id="invalid-bytes-one-each"),
        pytest.param("\ufffd".encode(), "\ufffd", id="valid-replacement-char-raw"),
        pytest.param("\u2028\u2029".encode(), "\\u2028\\u2029", id="line-separators"),
        pytest.param(b"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd", id="encoded-surrogate-invalid"),
    ],
)
def test_entry_bytes_match_moby_jsonlog(text: bytes, expected: str) -> None:
    assert encode_entry(text, "stdout", NS) == _entry(expected)


def test_entry_time_trims_trailing_zeros() -> None:
    expected = _entry("x", "stderr", "2024-01-02T03:04:05.1Z")
    assert encode_entry(b"x", "stderr", 1704164645_100000000) == expected


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, str, int]] = []

    def __call__(self, text: bytes, stream: str, ns: int) -> None:
        self.messages.append((text, stream, ns))


def test_lines_are_logged_with_their_newline() -> None:
    sink = _Sink()
    splitter = LineSplitter("stdout", sink)
    splitter.feed(b"a\nb", ns=1)
    splitter.feed(b"c\n", ns=2)
    assert sink.messages == [(b"a\n", "stdout", 1), (b"bc\n", "stdout", 2)]


def test_line_of_16k_content_is_split_like_moby() -> None:
    # moby's copier buffer holds 16 KiB; 16384 bytes without a newline are logged as a partial
    # message, and the newline follows as its own (last) piece with the first piece's time.
    sink = _Sink()
    splitter = LineSplitter("stdout", sink)
    splitter.feed(b"x" * MAX_LINE + b"\n", ns=5)
    assert sink.messages == [(b"x" * MAX_LINE, "stdout", 5), (b"\n", "stdout", 5)]


def test_line_that_fits_the_buffer_is_one_message() -> None:
    sink = _Sink()
    LineSplitter("stdout", sink).feed(b"y" * (MAX_LINE - 1) + b"\n", ns=1)
    assert sink.messages == [(b"y" * (MAX_LINE - 1) + b"\n", "stdout", 1)]


def test_pieces_of_a_long_line_share_the_first_time() -> None:
    sink = _Sink()
    splitter = LineSplitter("stderr", sink)
    splitter.feed(b"z" * (MAX_LINE + 10), ns=5)
    splitter.feed(b"tail\n", ns=9)
    splitter.feed(b"next\n", ns=11)
    assert sink.messages == [
        (b"z" * MAX_LINE, "stderr", 5),
        (b"z" * 10 + b"tail\n", "stderr", 5),
        (b"next\n", "stderr", 11),
    ]


def test_text_left_at_the_end_is_a_partial_message() -> None:
    sink = _Sink()
    splitter = LineSplitter("stdout", sink)
    splitter.feed(b"done\nno newline", ns=1)
    splitter.finish(ns=2)
    assert sink.messages == [(b"done\n", "stdout", 1), (b"no newline", "stdout", 2)]
    splitter.finish(ns=3)
    assert len(sink.messages) == 2


def _write(writer: LogWriter, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        writer.write(f"line {i:03d}\n".encode(), "stdout", NS + i)
    writer.flush()


def test_rotation_keeps_max_file_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), max_size=300, max_file=3)
    _write(writer, 40)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    entry = len(encode_entry(b"line 000\n", "stdout", NS))
    for rotated in ("c-json.log.1", "c-json.log.2"):
        size = (tmp_path / rotated).stat().st_size
        assert 300 <= size < 300 + entry  # rotated once it reached max-size, as moby does
    logged = [e.data for e in read_log(path)]
    assert logged == [f"line {i:03d}\n".encode() for i in range(40 - len(logged), 40)]
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)


def test_max_file_one_truncates_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), max_size=200, max_file=1)
    _write(writer, 10)
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["c-json.log"]
    assert path.stat().st_size < 200 + 100


def test_writer_appends_to_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    first = LogWriter(str(path))
    _write(first, 2)
    first.close()
    second = LogWriter(str(path))
    _write(second, 1, start=2)
    second.close()
    assert [e.data for e in read_log(path)] == [b"line 000\n", b"line 001\n", b"line 002\n"]


def _rotated_log(tmp_path: Path, count: int = 30) -> Path:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), max_size=250, max_file=10)
    _write(writer, count)
    writer.close()
    return path


def test_read_log_returns_entries_oldest_first(tmp_path: Path) -> None:
    path = _rotated_log(tmp_path, 12)
    entries = list(read_log(path))
    assert entries[0] == LogEntry(stream="stdout", time=STAMP, data=b"line 000\n")
    assert [e.timestamp_ns - NS for e in entries] == list(range(12))


def test_tail_spans_rotated_files(tmp_path: Path) -> None:
    path = _rotated_log(tmp_path)
    assert len(list(tmp_path.iterdir())) > 2
    assert [e.data for e in read_log(path, tail=7)] == [f"line {i:03d}\n".encode() for i in range(23, 30)]
    assert list(read_log(path, tail=0)) == []
    assert len(list(read_log(path, tail=-1))) == len(list(read_log(path)))


def test_since_and_until_filter_by_time(tmp_path: Path) -> None:
    path = _rotated_log(tmp_path)
    picked = [e.data for e in read_log(path, since_ns=NS + 10, until_ns=NS + 12)]
    assert picked == [b"line 010\n", b"line 011\n", b"line 012\n"]
    tailed = [e.data for e in read_log(path, tail=3, since_ns=NS + 28)]
    assert tailed == [b"line 028\n", b"line 029\n"]


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(_entry("a\\n") + b"garbage\n" + _entry("b\\n") + b'{"log":"torn')
    assert [e.data for e in read_log(path)] == [b"a\n", b"b\n"]


def test_missing_log_reads_empty(tmp_path: Path) -> None:
    assert list(read_log(tmp_path / "none.log")) == []


def test_follow_reads_new_entries_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = LogWriter(str(path), max_size=250, max_file=2)
    _write(writer, 3)
    done = False

    async def produce() -> None:
        nonlocal done
        for batch in range(4):
            await asyncio.sleep(0.03)
            _write(writer, 3, start=3 + 3 * batch)  # crosses several rotations
        done = True

    async def consume() -> list[bytes]:
        got = []
        async for entry in follow_log(path, tail=2, stopped=lambda: done, poll_interval=0.01):
            got.append(entry.data)
        return got

    async def run() -> list[bytes]:
        results = await asyncio.gather(consume(), produce())
        return results[0]

    got = asyncio.run(run())
    writer.close()
    assert got == [f"line {i:03d}\n".encode() for i in range(1, 15)]


def test_follow_stops_at_until(tmp_path: Path) -> None:
    path = _rotated_log(tmp_path, 5)

    async def run() -> list[bytes]:
        return [e.data async for e in follow_log(path, until_ns=NS + 2, stopped=lambda: False)]

    assert asyncio.run(run()) == [b"line 000\n", b"line 001\n", b"line 002\n"]


def test_follow_survives_a_log_that_appears_later(tmp_path: Path) -> None:
    path = tmp_path / "late.log"
    state = {"polls": 0}

    def stopped() -> bool:
        state["polls"] += 1
        if state["polls"] == 2:
            writer = LogWriter(str(path))
            _write(writer, 1)
            writer.close()
        return state["polls"] > 3

    async def run() -> list[bytes]:
        return [e.data async for e in follow_log(path, stopped=stopped, poll_interval=0.001)]

    assert asyncio.run(run()) == [b"line 000\n"]
    assert not os.path.exists(str(path) + ".1")
