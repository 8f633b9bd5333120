from __future__ import annotations

import pytest

from dockyard.engine.attach import AttachSession, frame, parse_detach_keys
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(None, b"\x10\x11", id="default"),
        pytest.param("ctrl-p,ctrl-q", b"\x10\x11", id="explicit-default"),
        pytest.param("a,ctrl-@,ctrl-[,ctrl-_", b"a\x00\x1b\x1f", id="specials"),
        pytest.param("CTRL-X", b"\x18", id="upper-case"),
    ],
)
def test_detach_keys_parse_like_docker(text: str | None, expected: bytes) -> None:
    assert parse_detach_keys(text) == expected


@pytest.mark.parametrize("text", ["ctrl-", "ctrl-1", "ab", "ctrl-p,,"])
def test_bad_detach_keys_get_dockers_message(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid detach keys \(.*\) provided$"):
        parse_detach_keys(text)


def test_frames_carry_the_stream_and_length() -> None:
    assert frame("stderr", b"abc") == b"\x02\x00\x00\x00\x00\x00\x00\x03abc"


class _Channel:
    def __init__(self) -> None:
        self.written = b""

    async def read(self, size: int = 65536) -> bytes:
        return b""

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close_stdin(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_a_broken_escape_sequence_is_passed_through() -> None:
    channel = _Channel()
    session = AttachSession(tty=True, stdin=True, stdout=True, stderr=False)
    session.connect(channel)
    await session.write(b"a\x10b")
    await session.write(b"\x10")
    await session.write(b"\x10\x11")
    assert channel.written == b"a\x10b\x10"
    assert session.detached


async def test_log_replay_comes_before_the_live_stream() -> None:
    session = AttachSession(
        tty=False, stdin=False, stdout=True, stderr=True, replay=[b"one", b"two"], stream=False
    )
    assert [await session.read(), await session.read(), await session.read()] == [b"one", b"two", b""]
