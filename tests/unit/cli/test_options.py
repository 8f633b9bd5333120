"""The flag grammar (pflag's) and docker's option value parsers."""

from __future__ import annotations

import pytest

from dockyard.cli import options
from dockyard.cli.options import Flag, FlagError, parse_flags

FLAGS = [
    Flag("all", "bool", "", short="a"),
    Flag("interactive", "bool", "", short="i"),
    Flag("tty", "bool", "", short="t"),
    Flag("env", "list", "", short="e"),
    Flag("name", "string", ""),
    Flag("last", "int", "", short="n", default=-1),
    Flag("memory", "bytes", "", short="m"),
    Flag("cpus", "decimal", ""),
    Flag("filter", "filter", "", short="f"),
    Flag("health-interval", "duration", ""),
    Flag("blkio-weight", "uint16", ""),
]


@pytest.mark.parametrize(
    ("argv", "expected_values", "expected_args"),
    [
        pytest.param(
            ["-it", "alpine", "sh"],
            {"interactive": True, "tty": True},
            ["alpine", "sh"],
            id="clustered-bools",
        ),
        pytest.param(["--name", "x", "img"], {"name": "x"}, ["img"], id="long-space"),
        pytest.param(["--name=x=y", "img"], {"name": "x=y"}, ["img"], id="long-equals-keeps-rest"),
        pytest.param(
            ["-eA=1", "-e", "B=2", "-e=C=3"], {"env": ["A=1", "B=2", "C=3"]}, [], id="short-value-forms"
        ),
        pytest.param(["-ite", "X=1"], {"env": ["X=1"], "tty": True}, [], id="cluster-ends-with-valued"),
        pytest.param(["--all=false"], {"all": False}, [], id="bool-explicit-false"),
        pytest.param(["-n", "3"], {"last": 3}, [], id="int"),
        pytest.param(["-n", "-1"], {"last": -1}, [], id="negative-int-value"),
        pytest.param(["-m", "512m"], {"memory": 512 * 1024 * 1024}, [], id="bytes-binary-multiple"),
        pytest.param(["--cpus", "1.5"], {"cpus": 1_500_000_000}, [], id="cpus-nano"),
        pytest.param(["--health-interval", "1m30s"], {"health-interval": 90_000_000_000}, [], id="duration"),
        pytest.param(["--", "-a"], {"all": False}, ["-a"], id="double-dash-ends-flags"),
        pytest.param(["-"], {}, ["-"], id="lone-dash-is-argument"),
        pytest.param(["x", "-a"], {"all": True}, ["x"], id="interspersed"),
    ],
)
def test_parse_accepts_pflag_grammar(argv, expected_values, expected_args) -> None:
    parsed = parse_flags(FLAGS, argv)
    for name, value in expected_values.items():
        assert parsed.get(name) == value
    assert parsed.args == expected_args


def test_non_interspersed_parsing_stops_at_first_argument() -> None:
    parsed = parse_flags(FLAGS, ["-i", "alpine", "ls", "-a", "--name", "x"], interspersed=False)
    assert parsed.flag("interactive")
    assert not parsed.flag("all")
    assert parsed.args == ["alpine", "ls", "-a", "--name", "x"]


def test_changed_records_given_flags_only() -> None:
    parsed = parse_flags(FLAGS, ["-n", "-1", "--name", ""])
    assert parsed.changed == {"last", "name"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--foo"], "unknown flag: --foo", id="unknown-long"),
        pytest.param(["-z"], "unknown shorthand flag: 'z' in -z", id="unknown-short"),
        pytest.param(["-iz"], "unknown shorthand flag: 'z' in -iz", id="unknown-in-cluster"),
        pytest.param(["--name"], "flag needs an argument: --name", id="missing-long-value"),
        pytest.param(["-e"], "flag needs an argument: 'e' in -e", id="missing-short-value"),
        pytest.param(["---x"], "bad flag syntax: ---x", id="three-dashes"),
        pytest.param(
            ["-n", "abc"],
            'invalid argument "abc" for "-n, --last" flag: strconv.ParseInt: parsing "abc": invalid syntax',
            id="bad-int",
        ),
        pytest.param(
            ["-m", "12x"],
            'invalid argument "12x" for "-m, --memory" flag: invalid size: \'12x\'',
            id="bad-size",
        ),
        pytest.param(
            ["--all=maybe"],
            'invalid argument "maybe" for "-a, --all" flag: '
            'strconv.ParseBool: parsing "maybe": invalid syntax',
            id="bad-bool",
        ),
        pytest.param(
            ["--blkio-weight", "70000"],
            'invalid argument "70000" for "--blkio-weight" flag: '
            'strconv.ParseUint: parsing "70000": value out of range',
            id="uint16-range",
        ),
        pytest.param(
            ["-f", "status"],
            'invalid argument "status" for "-f, --filter" flag: bad format of filter (expected name=value)',
            id="bad-filter",
        ),
        pytest.param(
            ["--cpus", "0.0000000001"],
            'invalid argument "0.0000000001" for "--cpus" flag: value is too precise',
            id="cpus-too-precise",
        ),
    ],
)
def test_parse_errors_are_pflags_words(argv, message) -> None:
    with pytest.raises(FlagError) as caught:
        parse_flags(FLAGS, argv)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("100", 100, id="bytes"),
        pytest.param("1k", 1024, id="k"),
        pytest.param("1K", 1024, id="upper-k"),
        pytest.param("512m", 512 << 20, id="m"),
        pytest.param("1.5g", 3 << 29, id="fraction"),
        pytest.param("2GB", 2 << 30, id="gb-suffix"),
        pytest.param("2gib", 2 << 30, id="gib-suffix"),
        pytest.param("10 m", 10 << 20, id="space-before-unit"),
        pytest.param("1t", 1 << 40, id="t"),
    ],
)
def test_parse_bytes_is_rams_in_bytes(text, expected) -> None:
    assert options.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "-1", "1x", "1.2.3m", "1mm", "abc"])
def test_parse_bytes_refuses(text) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        options.parse_bytes(text)


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("300ms", 300_000_000, id="ms"),
        pytest.param("1h30m", 5_400_000_000_000, id="compound"),
        pytest.param("-1.5h", -5_400_000_000_000, id="negative-fraction"),
        pytest.param("2us", 2_000, id="us"),
        pytest.param("2µs", 2_000, id="micro-sign"),
        pytest.param("1.5s", 1_500_000_000, id="fraction-seconds"),
    ],
)
def test_parse_duration_is_gos(text, nanoseconds) -> None:
    assert options.parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", 'time: invalid duration ""', id="empty"),
        pytest.param("10", 'time: missing unit in duration "10"', id="no-unit"),
        pytest.param("3d", 'time: unknown unit "d" in duration "3d"', id="unknown-unit"),
        pytest.param("..s", 'time: invalid duration "..s"', id="dots"),
    ],
)
def test_parse_duration_refuses(text, message) -> None:
    with pytest.raises(ValueError, match=r"^time: ") as caught:
        options.parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("A=1", "A=1", id="assignment"),
        pytest.param("A=", "A=", id="empty-value"),
        pytest.param("HOME", "HOME=/home/u", id="from-environment"),
        pytest.param("UNSET", "UNSET", id="absent-passes-bare"),
    ],
)
def test_validate_env(value, expected) -> None:
    assert options.validate_env(value, {"HOME": "/home/u"}) == expected


def test_validate_env_refuses_empty_name() -> None:
    with pytest.raises(ValueError, match="invalid environment variable: =x"):
        options.validate_env("=x", {})


def test_env_file_follows_dockers_rules(tmp_path) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_bytes(
        b"\xef\xbb\xbf# comment\n\n  A=1\nB= spaced value \nFROM_ENV\nMISSING\n   # indented comment\nC=x=y\n"
    )
    assert options.read_env_files([str(env_file)], {"FROM_ENV": "yes"}) == [
        "A=1",
        "B= spaced value ",
        "FROM_ENV=yes",
        "C=x=y",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"BAD NAME=1\n",
            "poorly formatted environment: variable 'BAD NAME' contains whitespaces",
            id="space",
        ),
        pytest.param(
            b"=value\n", "poorly formatted environment: no variable name on line '=value'", id="no-name"
        ),
        pytest.param(b"A=\xff\n", "contains invalid utf8 bytes at line 1", id="bad-utf8"),
    ],
)
def test_env_file_refuses(tmp_path, content, message) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_bytes(content)
    with pytest.raises(options.InvalidArgument, match=message):
        options.read_env_files([str(env_file)], {})


def test_filters_become_dockers_json_shape() -> None:
    parsed = parse_flags(FLAGS, ["-f", "Status=exited", "--filter", "status = running", "-f", "name=web"])
    assert options.parse_filters(parsed.items("filter")) == {
        "status": {"exited": True, "running": True},
        "name": {"web": True},
    }


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("10m", str(int(NOW - 600)), id="relative-duration"),
        pytest.param("1700000000", "1700000000", id="unix-seconds"),
        pytest.param("1700000000.5", "1700000000.5", id="unix-fraction"),
        pytest.param("2023-11-14T22:13:20Z", "1700000000.000000000", id="rfc3339-utc"),
        pytest.param("2023-11-14T22:13:20.25Z", "1700000000.250000000", id="rfc3339-nano"),
        pytest.param("2023-11-14T23:13:20+01:00", "1700000000.000000000", id="rfc3339-offset"),
    ],
)
def test_parse_timestamp_is_get_timestamp(value, expected) -> None:
    assert options.parse_timestamp(value, NOW) == expected


def test_parse_timestamp_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="failed to parse value as time or duration"):
        options.parse_timestamp("yesterday", NOW)
