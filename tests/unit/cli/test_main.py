"""The grammar: both command forms, help texts as docker prints them, errors and exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dockyard.cli import main, options
from tests.unit.cli.fakeapi import Reply

DOCKER_HELP = json.loads((Path(__file__).parent / "data" / "docker_help.json").read_text())["help"]
# Commands whose flags dockyard implements in full, so docker's --help must be reproduced exactly.
SAME_HELP = [
    *("ps", "container ls", "logs", "stop", "rm", "exec", "attach", "kill", "wait", "top"),
    *("pull", "image pull", "save", "container inspect", "inspect", "version", "info", "tag", "restart"),
]


def _as_dockyard(text: str) -> str:
    return re.sub(r"\bdocker (?=[a-z\[])", "dockyard ", text).replace(
        "Show the Docker version", "Show the Docker version"
    )


@pytest.mark.parametrize("command", SAME_HELP)
def test_help_matches_dockers(dockyard, command) -> None:
    result = dockyard(*command.split(), "--help")
    assert (result.status, result.err) == (0, "")
    assert result.out == _as_dockyard(DOCKER_HELP[command])


def test_help_command_is_the_same_as_the_flag(dockyard) -> None:
    assert dockyard("help", "logs").out == dockyard("logs", "--help").out
    assert dockyard("help", "container", "ls").out == dockyard("ps", "--help").out.replace(
        "Usage:  dockyard ps", "Usage:  dockyard container ls"
    )


def test_root_help_lists_commands_and_global_options(dockyard) -> None:
    for argv in ((), ("--help",), ("help",)):
        result = dockyard(*argv)
        assert result.status == 0
        assert result.out.startswith(
            "Usage:  dockyard [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers"
        )
        assert "\n  run         Create and run a new container from an image\n" in result.out
        assert "\n  container   Manage containers\n" in result.out
        assert "\n  -H, --host list " in result.out


def test_group_help_lists_subcommands(dockyard) -> None:
    result = dockyard("image")
    assert result.out.startswith(
        "Usage:  dockyard image COMMAND\n\nManage images\n\nCommands:\n  history     "
    )
    assert "  ls          List images\n" in result.out
    assert result.out.endswith("Run 'dockyard image COMMAND --help' for more information on a command.\n")


def test_management_and_classic_forms_reach_the_same_command(engine, dockyard) -> None:
    engine.route("GET", "/containers/json", Reply(200, []))
    engine.route("GET", "/images/json", Reply(200, []))
    for argv in (("ps",), ("container", "ls"), ("container", "list"), ("container", "ps")):
        assert dockyard(*argv).out.startswith("CONTAINER ID")
    for argv in (("images",), ("image", "ls"), ("image", "list")):
        assert dockyard(*argv).out.startswith("REPOSITORY")


@pytest.mark.parametrize(
    ("argv", "status", "err"),
    [
        pytest.param(
            ["run", "--foo", "x"],
            125,
            "unknown flag: --foo\n\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
            "Run 'dockyard run --help' for more information\n",
            id="unknown-flag",
        ),
        pytest.param(
            ["run"],
            1,
            "dockyard: 'dockyard run' requires at least 1 argument\n\nUsage:  dockyard run [OPTIONS] IMAGE "
            "[COMMAND] [ARG...]\n\nSee 'dockyard run --help' for more information\n",
            id="missing-argument",
        ),
        pytest.param(
            ["ps", "x"],
            1,
            "dockyard: 'dockyard ps' accepts no arguments\n\nUsage:  dockyard ps [OPTIONS]\n\n"
            "Run 'dockyard ps --help' for more information\n",
            id="no-arguments",
        ),
        pytest.param(
            ["frob"],
            1,
            "dockyard: unknown command: dockyard frob\n\nRun 'dockyard --help' for more information\n",
            id="unknown-command",
        ),
        pytest.param(
            ["container", "frob"],
            1,
            "dockyard: unknown command: dockyard container frob\n\n"
            "Run 'dockyard container --help' for more information\n",
            id="unknown-subcommand",
        ),
        pytest.param(
            ["ps", "-n", "abc"],
            125,
            'invalid argument "abc" for "-n, --last" flag: '
            'strconv.ParseInt: parsing "abc": invalid syntax\n\n'
            "Usage:  dockyard ps [OPTIONS]\n\nRun 'dockyard ps --help' for more information\n",
            id="bad-flag-value",
        ),
        pytest.param(["-H", "a", "-H", "b", "ps"], 1, "Specify only one -H\n", id="two-hosts"),
    ],
)
def test_usage_errors(dockyard, argv, status, err) -> None:
    result = dockyard(*argv)
    assert (result.status, result.out, result.err) == (status, "", err)


def test_version_flag(dockyard) -> None:
    assert dockyard("-v").out == f"dockyard version {main.VERSION}\n"


def test_host_flag_and_unreachable_daemon(dockyard, tmp_path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    result = dockyard("-H", host, "ps")
    assert (result.status, result.err) == (
        1,
        f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?\n",
    )


def test_run_cannot_connect_is_125(dockyard, tmp_path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    result = dockyard("run", "alpine", environ={"DOCKYARD_HOST": host})
    assert result.status == 125


def test_version_prints_client_and_server(engine, dockyard) -> None:
    engine.route(
        "GET",
        "/version",
        Reply(
            200,
            {
                "Platform": {"Name": "dockyard"},
                "Version": "0.1.0",
                "ApiVersion": "1.45",
                "MinAPIVersion": "1.24",
                "GoVersion": "python3.11",
                "Os": "linux",
                "Arch": "amd64",
                "Components": [
                    {"Name": "Engine", "Version": "0.1.0", "Details": {
                        "ApiVersion": "1.45", "MinAPIVersion": "1.24", "GitCommit": "",
                        "GoVersion": "python3.11", "Os": "linux", "Arch": "amd64",
                        "BuildTime": "2024-01-02T03:04:05.123456789Z",
                        "Experimental": "false"}},
                    {"Name": "runc", "Version": "1.1.5", "Details": {"GitCommit": "v1.1.5"}},
                ],
            },
        ),
    )  # fmt: skip
    lines = dockyard("version").out.splitlines()
    assert lines[0] == "Client: dockyard"
    assert lines[2] == " API version:       1.45"
    assert lines[9:] == [
        "Server: dockyard",
        " Engine:",
        "  Version:          0.1.0",
        "  API version:      1.45 (minimum version 1.24)",
        "  Go version:       python3.11",
        "  Git commit:       ",
        "  Built:            Tue Jan  2 03:04:05 2024",
        "  OS/Arch:          linux/amd64",
        "  Experimental:     false",
        " runc:",
        "  Version:          1.1.5",
        "  GitCommit:        v1.1.5",
    ]
    assert dockyard("version", "-f", "{{.Server.Version}}").out == "0.1.0\n"


def test_info_prints_dockers_layout(engine, dockyard) -> None:
    engine.route(
        "GET",
        "/info",
        Reply(
            200,
            {
                "Containers": 4, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 3,
                "Images": 2,
                "ServerVersion": "0.1.0", "Driver": "overlay2", "LoggingDriver": "json-file",
                "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
                "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Log": ["json-file"]},
                "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"runc": {}, "dockyard-runtime": {}},
                "DefaultRuntime": "dockyard-runtime", "OSType": "linux", "KernelVersion": "6.18",
                "OperatingSystem": "Debian GNU/Linux 12", "Architecture": "x86_64", "NCPU": 2,
                "MemTotal": 25200000000, "Name": "host", "ID": "abc", "DockerRootDir": "/var/lib/dockyard",
                "SecurityOptions": ["name=seccomp,profile=builtin"],
                "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}},
            },
        ),
    )  # fmt: skip
    result = dockyard("info")
    assert result.status == 0
    assert " Containers: 4\n  Running: 1\n  Paused: 0\n  Stopped: 3\n Images: 2\n" in result.out
    assert " Runtimes: dockyard-runtime runc\n Default Runtime: dockyard-runtime\n" in result.out
    assert " Security Options:\n  seccomp\n   Profile: builtin\n" in result.out
    assert " Total Memory: 23.47GiB\n" in result.out
    assert " Insecure Registries:\n  127.0.0.0/8\n Live Restore Enabled: false\n\n" in result.out
    assert dockyard("info", "--format", "{{.NCPU}} {{.Driver}}").out == "2 overlay2\n"


def test_flag_usage_on_a_narrow_terminal_wraps_as_a_block_below() -> None:
    # pflag: with under 24 columns left for the usage, it moves to the next line at column 16.
    flag = options.Flag("format", "string", "Pretty-print containers using a Go template", short="f")
    lines = options.flag_usages([flag], 40).splitlines()
    assert lines[0] == "  -f, --format string   "
    assert all(line.startswith(" " * 16) and not line.startswith(" " * 17) for line in lines[1:])
    assert " ".join(line.strip() for line in lines[1:]) == "Pretty-print containers using a Go template"


def test_ps_import_closure_stays_small(engine) -> None:
    # Start-up is most of `dockyard ps`: no re, json, typing, dataclasses, socket, subprocess...
    import subprocess
    import sys

    engine.route("GET", "/containers/json", Reply(200, []))
    probe = (
        "import sys\n"
        "from dockyard.cli import main\n"
        f"status = main.dispatch(['ps'], {{'DOCKYARD_HOST': {engine.host!r}, 'HOME': '/nonexistent'}})\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)))\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stderr.split())
    heavy = {"re", "json", "typing", "dataclasses", "socket", "subprocess", "asyncio", "argparse", "ssl",
             "http", "urllib", "datetime", "threading", "importlib", "enum", "inspect"}  # fmt: skip
    assert loaded & heavy == set()
