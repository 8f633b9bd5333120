"""stdcopy frames and JSON-message progress, byte for byte as dockerd writes them."""

from __future__ import annotations

import json

import pytest

from dockyard.api.streams import error_message, frame, human_size, progress_bar, progress_message
from dockyard.engine import Progress


def test_frame_has_docker_header() -> None:
    assert frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (1536, "1.536kB"),
        (3_247_784, "3.248MB"),
        (93_500_000, "93.5MB"),
        (2 * 10**12, "2TB"),
    ],
    ids=["zero", "bytes", "kilo", "fraction", "mega", "tenths", "tera"],
)
def test_human_size_matches_go_units(size: int, text: str) -> None:
    assert human_size(size) == text


def test_progress_bar_shape() -> None:
    bar = progress_bar(32_565, 3_247_784)
    assert bar == "[>" + " " * 50 + "]  32.56kB/3.248MB"
    assert progress_bar(100, 100).startswith("[" + "=" * 50 + ">]")
    assert progress_bar(0, 0) == ""
    assert progress_bar(1234, 0) == " 1.234kB"


def test_layer_message_carries_detail_and_bar() -> None:
    line = progress_message(Progress(status="Downloading", id="c6a83fedfae6", current=1000, total=4000))
    message = json.loads(line)
    assert line.endswith(b"\n")
    assert message["status"] == "Downloading"
    assert message["id"] == "c6a83fedfae6"
    assert message["progressDetail"] == {"current": 1000, "total": 4000}
    assert message["progress"].endswith("1kB/4kB")


def test_layer_status_without_counts_has_empty_detail() -> None:
    message = json.loads(progress_message(Progress(status="Pull complete", id="c6a83fedfae6")))
    assert message == {"status": "Pull complete", "progressDetail": {}, "id": "c6a83fedfae6"}


def test_plain_status_has_no_detail() -> None:
    message = json.loads(progress_message(Progress(status="Digest: sha256:abc")))
    assert message == {"status": "Digest: sha256:abc"}


def test_error_message_has_both_forms() -> None:
    assert json.loads(error_message("boom")) == {"errorDetail": {"message": "boom"}, "error": "boom"}
