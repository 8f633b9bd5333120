"""``exec``: run another process in a running container, as docker's ``exec`` does.

The container is looked up first (so an unknown name fails with the daemon's 404), then an
exec instance is created and started. ``-d`` starts it detached and returns at once; otherwise
the start request is hijacked and relayed like ``run``'s attach (raw terminal with ``-it``,
resize through ``/exec/{id}/resize``, the detach keys), and the CLI exits with the process's
exit code, read from ``/exec/{id}/json`` once the stream ends.
"""

from __future__ import annotations

from dockyard.cli import options
from dockyard.cli.commands.base import Cli, Spec, StatusError
from dockyard.cli.commands.container import attach_streams, container_json, detach_keys_for, resize_tty

__all__ = ["SPECS"]

F = options.Flag


def _exec_config(cli: Cli, parsed: options.Parsed, keys: str) -> dict[str, object]:
    env = options.read_env_files(parsed.items("env-file"), cli.environ)
    env += [options.validate_env(value, cli.environ) for value in parsed.items("env")]
    detach = parsed.flag("detach")
    return {
        "User": parsed.text("user"),
        "Privileged": parsed.flag("privileged"),
        "Tty": parsed.flag("tty"),
        "AttachStdin": parsed.flag("interactive") and not detach,
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": keys,
        "Env": env or None,
        "WorkingDir": parsed.text("workdir"),
        "Cmd": parsed.args[1:],
    }


def run_exec(cli: Cli, parsed: options.Parsed) -> int:
    """``exec``: create and start an exec instance; exit with its exit code."""
    ref = parsed.args[0]
    keys = detach_keys_for(cli, parsed.text("detach-keys"))
    config = _exec_config(cli, parsed, keys)
    container_json(cli, ref)
    tty, stdin = bool(config["Tty"]), bool(config["AttachStdin"])
    if not config["Detach"] and tty and stdin and not cli.in_is_terminal():
        raise StatusError(1, "the input device is not a TTY")
    created = cli.client.call("POST", f"/containers/{ref}/exec", body=config)
    assert isinstance(created, dict)
    exec_id = str(created.get("Id") or "")
    if not exec_id:
        raise StatusError(1, "exec ID empty")
    start: dict[str, object] = {"Detach": bool(config["Detach"]), "Tty": tty}
    if config["Detach"]:
        cli.client.call("POST", f"/exec/{exec_id}/start", body=start)
        return 0
    conn = cli.client.hijack(f"/exec/{exec_id}/start", body=start)
    if tty and cli.in_is_terminal():
        resize_tty(cli, f"/exec/{exec_id}")
    outcome = attach_streams(
        cli, conn, tty=tty, stdin=stdin, detach_keys=keys, resize_path=f"/exec/{exec_id}", kill_path=None
    )
    if outcome == "detached":
        raise StatusError(1, "read escape sequence")
    result = cli.client.call("GET", f"/exec/{exec_id}/json")
    assert isinstance(result, dict)
    status = result.get("ExitCode")
    return status if isinstance(status, int) else 0


SPECS = {
    "exec": Spec(
        "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
        [
            F("detach", "bool", "Detached mode: run command in the background", short="d"),
            F("detach-keys", "string", "Override the key sequence for detaching a container"),
            F("env", "list", "Set environment variables", short="e", check=options.check_env),
            F("env-file", "list", "Read in a file of environment variables"),
            F("interactive", "bool", "Keep STDIN open even if not attached", short="i"),
            F("privileged", "bool", "Give extended privileges to the command"),
            F("tty", "bool", "Allocate a pseudo-TTY", short="t"),
            F("user", "string", 'Username or UID (format: "<name|uid>[:<group|gid>]")', short="u"),
            F("workdir", "string", "Working directory inside the container", short="w"),
        ],
        run_exec,
        args=("min", 2),
        aliases="container exec,exec",
        interspersed=False,
    ),
}
