"""Tables, relative times, sizes, ports and the pull progress display, as docker prints them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dockyard.cli import render
from dockyard.cli.commands.listing import displayable_ports, truncate_id
from dockyard.cli.render import MessageError


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.45, "Less than a second", id="subsecond"),
        pytest.param(1, "1 second", id="one-second"),
        pytest.param(47, "47 seconds", id="seconds"),
        pytest.param(60, "About a minute", id="about-a-minute"),
        pytest.param(119, "About a minute", id="still-about-a-minute"),
        pytest.param(35 * 60 + 40, "35 minutes", id="minutes"),
        pytest.param(3600 + 29 * 60, "About an hour", id="about-an-hour"),
        pytest.param(3600 + 31 * 60, "2 hours", id="hours-rounded"),
        pytest.param(36 * 3600, "36 hours", id="under-two-days"),
        pytest.param(2 * 86400, "2 days", id="days"),
        pytest.param(13 * 86400 + 5 * 3600, "13 days", id="thirteen-days"),
        pytest.param(30 * 86400, "4 weeks", id="month-is-weeks"),
        pytest.param(60 * 86400, "2 months", id="months"),
        pytest.param(24 * 30 * 86400, "24 months", id="twenty-four-months"),
        pytest.param(24 * 30 * 86400 + 14 * 86400, "2 years", id="years"),
    ],
)
def test_human_duration_is_go_units(seconds, text) -> None:
    assert render.human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(0, "0B", id="zero"),
        pytest.param(2, "2B", id="bytes"),
        pytest.param(999, "999B", id="under-k"),
        pytest.param(1000, "1kB", id="one-k"),
        pytest.param(13300, "13.3kB", id="hello-world"),
        pytest.param(5_570_000, "5.57MB", id="alpine"),
        pytest.param(21_500_000, "21.5MB", id="three-digits"),
        pytest.param(999_999, "1e+03kB", id="gos-g-rounding"),
        pytest.param(1.5e12, "1.5TB", id="tera"),
    ],
)
def test_human_size_is_three_significant_decimal_digits(size, text) -> None:
    assert render.human_size(size) == text


@pytest.mark.parametrize(
    ("text", "width", "cut"),
    [
        pytest.param("echo 'hello from alpine'", 20, "echo 'hello from al…", id="ascii"),
        pytest.param("/bin/sh", 20, "/bin/sh", id="short"),
        pytest.param("x" * 20, 20, "x" * 20, id="exact"),
        pytest.param("日本語のコマンドです", 10, "日本語の…", id="wide-runes"),
        pytest.param("abc", 1, "a", id="width-one"),
        pytest.param("abc", 0, "", id="width-zero"),
    ],
)
def test_ellipsis_counts_display_columns(text, width, cut) -> None:
    assert render.ellipsis(text, width) == cut


def test_tabwrite_pads_columns_but_not_the_last_cell() -> None:
    text = "CONTAINER ID\tIMAGE\tNAMES\n3030c9c91e12\talpine\tfervent_newton\n"
    assert render.tabwrite(text) == (
        "CONTAINER ID   IMAGE     NAMES\n3030c9c91e12   alpine    fervent_newton\n"
    )


def test_tabwrite_column_blocks_end_at_lines_without_the_column() -> None:
    # Go's tabwriter sizes a column only over consecutive lines that have a cell in it.
    text = "a\tb\tc\nlonger-cell\td\nx\n1\t2\t3\n"
    assert render.tabwrite(text, minwidth=0, padding=1) == "a           b c\nlonger-cell d\nx\n1 2 3\n"


def test_tabwrite_empty_cells_are_padded() -> None:
    assert render.tabwrite("a\t\tc\nbb\t\tdd\n") == "a                   c\nbb                  dd\n"


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        pytest.param([], "", id="none"),
        pytest.param([{"PrivatePort": 80, "Type": "tcp"}], "80/tcp", id="exposed"),
        pytest.param(
            [
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32769, "Type": "tcp"},
                {"IP": "::", "PrivatePort": 80, "PublicPort": 32769, "Type": "tcp"},
                {"PrivatePort": 443, "Type": "tcp"},
            ],
            "443/tcp, 0.0.0.0:32769->80/tcp, [::]:32769->80/tcp",
            id="published-last",
        ),
        pytest.param(
            [{"PrivatePort": p, "Type": "tcp"} for p in (8000, 8001, 8002, 9000)],
            "8000-8002/tcp, 9000/tcp",
            id="range-grouping",
        ),
        pytest.param(
            [{"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "udp"} for p in (53, 54)],
            "0.0.0.0:53-54->53-54/udp",
            id="same-port-ranges",
        ),
    ],
)
def test_displayable_ports(ports, text) -> None:
    assert displayable_ports(ports) == text


@pytest.mark.parametrize(
    ("ident", "short"),
    [
        pytest.param("sha256:" + "a" * 64, "a" * 12, id="digest"),
        pytest.param("b" * 64, "b" * 12, id="bare"),
        pytest.param("<missing>", "<missing>", id="history-missing"),
    ],
)
def test_truncate_id(ident, short) -> None:
    assert truncate_id(ident) == short


MESSAGES = [
    {"status": "Pulling from library/alpine", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 1000, "total": 2000000},
        "progress": "x",
        "id": "aaaaaaaaaaaa",
    },
    {
        "status": "Downloading",
        "progressDetail": {"current": 500000, "total": 1000000},
        "progress": "x",
        "id": "bbbbbbbbbbbb",
    },
    {"status": "Download complete", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {"status": "Extracting", "progressDetail": {"current": 32768, "total": 2000000}, "id": "aaaaaaaaaaaa"},
    {"status": "Pull complete", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
    {"status": "Already exists", "progressDetail": {}, "id": "cccccccccccc"},
    {"status": "Digest: sha256:" + "1" * 64},
    {"status": "Status: Downloaded newer image for alpine:latest"},
]


def test_progress_off_a_terminal_prints_each_state_once() -> None:
    out = io.StringIO()
    render.display_json_messages(MESSAGES, out, terminal=False)
    assert out.getvalue() == (
        "latest: Pulling from library/alpine\n"
        "aaaaaaaaaaaa: Pulling fs layer\n"
        "bbbbbbbbbbbb: Pulling fs layer\n"
        "bbbbbbbbbbbb: Download complete\n"
        "aaaaaaaaaaaa: Pull complete\n"
        "cccccccccccc: Already exists\n"
        f"Digest: sha256:{'1' * 64}\n"
        "Status: Downloaded newer image for alpine:latest\n"
    )


def test_progress_on_a_terminal_matches_docker_byte_for_byte() -> None:
    recorded = json.loads((Path(__file__).parent / "data" / "pull_tty.json").read_text())
    out = io.StringIO()
    out.write("Using default tag: latest\n")
    render.display_json_messages(MESSAGES, out, terminal=True, width=recorded["cols"])
    out.write("docker.io/library/alpine:latest\n")
    assert out.getvalue().replace("\n", "\r\n") == recorded["output"]


def test_progress_error_message_stops_the_display() -> None:
    out = io.StringIO()
    messages = [
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "a"},
        {"errorDetail": {"message": "boom"}},
    ]
    with pytest.raises(MessageError, match=r"^boom$"):
        render.display_json_messages(messages, out, terminal=False)
    assert out.getvalue() == "a: Pulling fs layer\n"


def test_write_formatted_table_uses_header_functions_and_label_names() -> None:
    from dockyard.cli.commands.listing import HEADERS, ContainerRow

    row = ContainerRow(
        {"Id": "f" * 64, "Names": ["/web"], "Labels": {"com.example.tier": "front"}}, True, 0.0
    )
    out = io.StringIO()
    render.write_formatted('table {{upper .Names}}\t{{.Label "com.example.tier"}}', [row], HEADERS, out)
    assert out.getvalue() == "NAMES     tier\nWEB       front\n"
