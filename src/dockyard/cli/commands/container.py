"""Container lifecycle commands: start, stop, restart, kill, rm, wait, logs, top, attach, inspect.

Each is a few API calls shaped as docker's CLI makes them (see ``docker/cli
cli/command/container``); the multi-container ones act on each argument, print it on success,
and report every failure at the end with status 1. The attach-style commands (``start -a``,
``attach``, and ``run``/``exec`` through :func:`attach_streams`) relay a hijacked connection to
the user's terminal with :mod:`dockyard.cli.terminal`, resize the container's TTY on start and
on SIGWINCH, and end with the container's exit status.
"""

from __future__ import annotations

import os

from dockyard.cli import options, terminal
from dockyard.cli.commands.base import INSPECT_FORMAT_HELP, Cli, Spec, StatusError, for_each
from dockyard.errors import DockyardError, InvalidArgument

__all__ = [
    "SPECS",
    "ExitWaiter",
    "attach_streams",
    "container_json",
    "inspect_objects",
    "resize_tty",
    "wait_status",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dockyard.cli.client import Client
    from dockyard.cli.wire import Connection

F = options.Flag


def container_json(cli: Cli, ref: str) -> dict[str, object]:
    """``GET /containers/{ref}/json``.

    Raises:
        DockyardError: the daemon's error (404 for an unknown container).
    """
    value = cli.client.call("GET", f"/containers/{ref}/json")
    assert isinstance(value, dict)
    return value


def _path_ref(ref: str) -> str:
    if not ref:
        raise InvalidArgument("Container name cannot be empty")
    return ref.lstrip("/") or ref


# --- stop / restart / kill / rm / wait ------------------------------------------------------


def _timeout_query(parsed: options.Parsed) -> dict[str, object]:
    query: dict[str, object] = {}
    if "timeout" in parsed.changed:
        query["t"] = str(parsed.number("timeout"))
    if parsed.text("signal"):
        query["signal"] = parsed.text("signal")
    return query


def _parallel(cli: Cli, refs: Sequence[str], action: Callable[[str], str | None]) -> int:
    """docker's ``parallelOperation``: act on all at once, report in argument order."""
    import threading

    client = cli.client  # negotiate once, before the threads share it
    results: dict[int, tuple[str | None, DockyardError | None]] = {}

    def work(index: int, ref: str) -> None:
        try:
            results[index] = (action(ref), None)
        except DockyardError as exc:
            results[index] = (None, exc)

    threads = [threading.Thread(target=work, args=(i, r), daemon=True) for i, r in enumerate(refs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    del client
    outcomes = [results[i] for i in range(len(refs))]

    def replay(ref: str) -> str | None:
        line, error = outcomes[refs.index(ref)]
        if error is not None:
            raise error
        return line

    return for_each(cli, refs, replay)


def run_stop(cli: Cli, parsed: options.Parsed) -> int:
    """``stop``: ``POST /containers/{id}/stop`` (``t``, ``signal``) for each, in parallel."""
    query = _timeout_query(parsed)

    def stop(ref: str) -> str:
        response = cli.client.request("POST", f"/containers/{_path_ref(ref)}/stop", query=query)
        response.read()
        cli.client.release(response)
        return ref

    return _parallel(cli, parsed.args, stop)


def run_restart(cli: Cli, parsed: options.Parsed) -> int:
    """``restart``: ``POST /containers/{id}/restart`` for each, in parallel."""
    query = _timeout_query(parsed)

    def restart(ref: str) -> str:
        cli.client.call("POST", f"/containers/{_path_ref(ref)}/restart", query=query)
        return ref

    return _parallel(cli, parsed.args, restart)


def run_kill(cli: Cli, parsed: options.Parsed) -> int:
    """``kill``: ``POST /containers/{id}/kill`` (``signal``; the daemon defaults to KILL)."""
    query = {"signal": parsed.text("signal")} if parsed.text("signal") else {}

    def kill(ref: str) -> str:
        cli.client.call("POST", f"/containers/{_path_ref(ref)}/kill", query=query)
        return ref

    return _parallel(cli, parsed.args, kill)


def run_rm(cli: Cli, parsed: options.Parsed) -> int:
    """``rm``: ``DELETE /containers/{id}`` (``force``, ``link``, ``v``); ``-f`` forgives missing ones."""
    query = {
        name: "1"
        for flag, name in (("force", "force"), ("link", "link"), ("volumes", "v"))
        if parsed.flag(flag)
    }

    def remove(ref: str) -> str:
        cli.client.call("DELETE", f"/containers/{_path_ref(ref)}", query=query)
        return ref

    return for_each(cli, parsed.args, remove, ignore_not_found=parsed.flag("force"))


def wait_status(client: Client, ref: str, condition: str = "") -> int:
    """``POST /containers/{ref}/wait``: the exit status once the condition is met.

    Raises:
        DockyardError: the daemon's error, or the wait result's own ``Error.Message``.
    """
    query = {"condition": condition} if condition else None
    result = client.call("POST", f"/containers/{ref}/wait", query=query)
    assert isinstance(result, dict)
    error = result.get("Error")
    if isinstance(error, dict) and error.get("Message"):
        from dockyard.errors import SystemFailure

        raise SystemFailure(str(error["Message"]))
    return int(result.get("StatusCode") or 0)


def run_wait(cli: Cli, parsed: options.Parsed) -> int:
    """``wait``: print each container's exit code once it stops."""
    return for_each(cli, parsed.args, lambda ref: str(wait_status(cli.client, _path_ref(ref))))


# --- logs and top ---------------------------------------------------------------------------


def run_logs(cli: Cli, parsed: options.Parsed) -> int:
    """``logs``: the log stream, split to stdout/stderr unless the container has a TTY."""
    import time

    ref = _path_ref(parsed.args[0])
    info = container_json(cli, ref)
    query: dict[str, object] = {"stdout": "1", "stderr": "1", "tail": parsed.text("tail")}
    for flag in ("since", "until"):
        if parsed.text(flag):
            try:
                query[flag] = options.parse_timestamp(parsed.text(flag), time.time())
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
    for flag, key in (("timestamps", "timestamps"), ("details", "details"), ("follow", "follow")):
        if parsed.flag(flag):
            query[key] = "1"
    response = cli.client.request("GET", f"/containers/{ref}/logs", query=query)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty")) if isinstance(config, dict) else False
    out, err = cli.out_bytes, cli.err_bytes
    try:
        if tty:
            for chunk in response.chunks():
                out.write(chunk)
                out.flush()
            return 0
        from dockyard.cli.wire import demux

        for stream, data in demux(response.chunks()):
            target = err if stream == 2 else out
            target.write(data)
            target.flush()
        return 0
    finally:
        cli.client.release(response)


def run_top(cli: Cli, parsed: options.Parsed) -> int:
    """``top``: ``GET /containers/{id}/top`` (``ps_args``) as a table (minwidth 20)."""
    from dockyard.cli.render import tabwrite

    ref = _path_ref(parsed.args[0])
    query = {"ps_args": " ".join(parsed.args[1:])} if len(parsed.args) > 1 else None
    result = cli.client.call("GET", f"/containers/{ref}/top", query=query)
    assert isinstance(result, dict)
    lines = ["\t".join(str(t) for t in result.get("Titles") or [])]
    lines += ["\t".join(str(c) for c in row) for row in result.get("Processes") or []]
    cli.out.write(tabwrite("\n".join(lines) + "\n", minwidth=20))
    return 0


# --- attaching ------------------------------------------------------------------------------


def resize_tty(cli: Cli, path: str) -> None:
    """Tell the daemon our terminal's size (``POST <path>/resize?h=&w=``); quietly skip if
    we have no terminal or the daemon refuses (the container may have just exited)."""
    size = terminal.window_size(cli.out.fileno()) if _has_fd(cli.out) else None
    if size is None or size == (0, 0):
        return
    try:
        cli.client.call("POST", f"{path}/resize", query={"h": str(size[0]), "w": str(size[1])})
    except DockyardError:
        pass


def _has_fd(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
        return True
    except (AttributeError, OSError, ValueError):
        return False


def detach_keys_for(cli: Cli, flag_value: str) -> str:
    """``--detach-keys``, else ``detachKeys`` from config.json, else "" (the default)."""
    if flag_value:
        return flag_value
    configured = cli.config().get("detachKeys")
    return configured if isinstance(configured, str) else ""


def attach_streams(
    cli: Cli,
    conn: Connection,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: str,
    resize_path: str | None,
    kill_path: str | None,
) -> str:
    """Relay ``conn`` and our stdio until the stream ends ("ended") or we detach ("detached").

    ``resize_path`` gets SIGWINCH resizes; ``kill_path`` (sig-proxy) gets forwarded signals.
    """
    keys = terminal.DEFAULT_DETACH_KEYS
    if detach_keys:
        try:
            keys = terminal.parse_detach_keys(detach_keys)
        except InvalidArgument:
            keys = terminal.DEFAULT_DETACH_KEYS  # docker warns and uses the default
    stdin_fd = cli.stdin.fileno() if stdin and _has_fd(cli.stdin) else None
    raw = tty and stdin_fd is not None and os.isatty(stdin_fd)

    def on_signal(signum: int) -> None:
        import signal

        if signum == signal.SIGWINCH:
            if resize_path is not None and tty:
                resize_tty(cli, resize_path)
        elif kill_path is not None:
            try:
                cli.client.call("POST", f"{kill_path}/kill", query={"signal": str(signum)})
            except DockyardError:
                pass

    with terminal.RawTerminal(stdin_fd if raw else None):
        pump = terminal.Pump(
            conn,
            stdin_fd=stdin_fd,
            stdout=cli.out_bytes,
            stderr=cli.out_bytes if tty else cli.err_bytes,
            tty=tty,
            detach_keys=keys if raw else None,
            on_signal=on_signal,
            proxy=kill_path is not None,
        )
        try:
            outcome = pump.run()
        finally:
            conn.close()
    if outcome == "signalled":
        # The terminal is restored by now; end as the signal would have ended us.
        raise StatusError(128 + pump.ended_by)
    return outcome


def attach_query(stdin: bool, stdout: bool, stderr: bool, detach_keys: str) -> dict[str, object]:
    """The attach query docker sends: ``stream`` and the streams asked for, ``detachKeys``."""
    query: dict[str, object] = {"stream": "1"}
    for name, on in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
        if on:
            query[name] = "1"
    if detach_keys:
        query["detachKeys"] = detach_keys
    return query


def run_attach(cli: Cli, parsed: options.Parsed) -> int:
    """``attach``: relay a running container's stdio; exit with its status."""
    ref = _path_ref(parsed.args[0])
    info = container_json(cli, ref)
    state = info.get("State") or {}
    assert isinstance(state, dict)
    if not state.get("Running"):
        raise StatusError(1, "You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise StatusError(1, "You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise StatusError(1, "You cannot attach to a restarting container, wait until it is running")
    config = info.get("Config") or {}
    assert isinstance(config, dict)
    tty = bool(config.get("Tty"))
    stdin = not parsed.flag("no-stdin") and bool(config.get("OpenStdin"))
    keys = detach_keys_for(cli, parsed.text("detach-keys"))
    conn = cli.client.hijack(f"/containers/{ref}/attach", query=attach_query(stdin, True, True, keys))
    # As docker: the wait is sent before streaming, so the exit status cannot be missed.
    waiter = ExitWaiter(cli, ref, "")
    if tty and cli.out_is_terminal():
        resize_tty(cli, f"/containers/{ref}")
    proxy = parsed.flag("sig-proxy") and not tty
    outcome = attach_streams(
        cli,
        conn,
        tty=tty,
        stdin=stdin,
        detach_keys=keys,
        resize_path=f"/containers/{ref}",
        kill_path=f"/containers/{ref}" if proxy else None,
    )
    if outcome == "detached":
        waiter.close()
        raise StatusError(1, "read escape sequence")
    return waiter.status()


# --- start ----------------------------------------------------------------------------------


def run_start(cli: Cli, parsed: options.Parsed) -> int:
    """``start``: start each container, or with ``-a``/``-i`` attach to one and wait for it."""
    if not (parsed.flag("attach") or parsed.flag("interactive")):
        return _start_plain(cli, parsed.args)
    if len(parsed.args) > 1:
        raise StatusError(1, "you cannot start and attach multiple containers at once")
    ref = _path_ref(parsed.args[0])
    info = container_json(cli, ref)
    config = info.get("Config") or {}
    host_config = info.get("HostConfig") or {}
    assert isinstance(config, dict)
    assert isinstance(host_config, dict)
    tty = bool(config.get("Tty"))
    stdin = parsed.flag("interactive") and bool(config.get("OpenStdin"))
    keys = detach_keys_for(cli, parsed.text("detach-keys"))
    conn = cli.client.hijack(f"/containers/{ref}/attach", query=attach_query(stdin, True, True, keys))
    condition = "removed" if host_config.get("AutoRemove") else "next-exit"
    waiter = ExitWaiter(cli, ref, condition)
    cli.client.call("POST", f"/containers/{ref}/start")
    if tty and cli.out_is_terminal():
        resize_tty(cli, f"/containers/{ref}")
    outcome = attach_streams(
        cli,
        conn,
        tty=tty,
        stdin=stdin,
        detach_keys=keys,
        resize_path=f"/containers/{ref}",
        kill_path=None if tty else f"/containers/{ref}",
    )
    if outcome == "detached":
        waiter.close()
        return 0
    return waiter.status()


class ExitWaiter:
    """A wait request sent before start, answered when the container exits (docker's order)."""

    def __init__(self, cli: Cli, ref: str, condition: str) -> None:
        from dockyard.cli.client import Client

        self.client = Client(cli.host, tls=cli.tls, api_version=cli.client.api_version)
        self.client.server_headers = cli.client.server_headers
        query = {"condition": condition} if condition else None
        self.response = self.client.request("POST", f"/containers/{ref}/wait", query=query)

    def close(self) -> None:
        """Abandon the wait (the container was never started, or we detached)."""
        self.client.close()
        self.response.conn.close()

    def status(self, timeout: float | None = None) -> int:
        """The exit status, once the daemon answers the wait (or ``timeout`` seconds pass).

        Raises:
            StatusError: the wait itself reported an error (status 125).
            SystemFailure: no answer within ``timeout``.
        """
        try:
            self.response.conn.sock.settimeout(timeout)
            result = self.response.json()
        finally:
            self.close()
        if not isinstance(result, dict):
            return 0
        error = result.get("Error")
        if isinstance(error, dict) and error.get("Message"):
            raise StatusError(125, str(error["Message"]))
        return int(result.get("StatusCode") or 0)


def _start_plain(cli: Cli, refs: Sequence[str]) -> int:
    failed = []
    for ref in refs:
        try:
            cli.client.call("POST", f"/containers/{_path_ref(ref)}/start")
        except DockyardError as exc:
            cli.err.write(f"{exc}\n")
            failed.append(ref)
            continue
        cli.print(ref)
    if failed:
        raise StatusError(1, f"Error: failed to start containers: {', '.join(failed)}")
    return 0


# --- inspect --------------------------------------------------------------------------------


def inspect_objects(cli: Cli, refs: Sequence[str], fmt: str, fetch: Callable[[str], bytes]) -> int:
    """docker's ``inspect.Inspect``: indented JSON, or a template per object; errors last.

    ``fetch`` returns an object's raw JSON or raises the daemon's error.
    """
    from dockyard.cli.commands import inspection

    return inspection.inspect(cli, refs, fmt, fetch)


def run_inspect(cli: Cli, parsed: options.Parsed) -> int:
    """``inspect``: any kind of object (``--type`` narrows it), docker's inspect output."""
    query = {"size": "1"} if parsed.flag("size") else None

    def fetch(ref: str) -> bytes:
        response = cli.client.request("GET", f"/containers/{_path_ref(ref)}/json", query=query)
        data = response.read()
        cli.client.release(response)
        return data

    return inspect_objects(cli, parsed.args, parsed.text("format"), fetch)


# --- the specs ------------------------------------------------------------------------------

_SINCE_HELP = (
    'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'
)
_UNTIL_HELP = _SINCE_HELP.replace("since timestamp", "before a timestamp")
_SIGNAL = F("signal", "string", "Signal to send to the container", short="s")
_TIMEOUT = F("timeout", "int", "Seconds to wait before killing the container", short="t")
_DETACH_KEYS = F("detach-keys", "string", "Override the key sequence for detaching a container")

SPECS = {
    "attach": Spec(
        "attach [OPTIONS] CONTAINER",
        [
            _DETACH_KEYS,
            F("no-stdin", "bool", "Do not attach STDIN"),
            F(
                "sig-proxy",
                "bool",
                "Proxy all received signals to the process",
                default=True,
                default_text="true",
            ),
        ],
        run_attach,
        args=("exact", 1),
        aliases="container attach,attach",
    ),
    "inspect": Spec(
        "inspect [OPTIONS] CONTAINER [CONTAINER...]",
        [
            F("format", "string", INSPECT_FORMAT_HELP, short="f"),
            F("size", "bool", "Display total file sizes", short="s"),
        ],
        run_inspect,
        args=("min", 1),
    ),
    "kill": Spec(
        "kill [OPTIONS] CONTAINER [CONTAINER...]",
        [_SIGNAL],
        run_kill,
        args=("min", 1),
        aliases="container kill,kill",
    ),
    "logs": Spec(
        "logs [OPTIONS] CONTAINER",
        [
            F("details", "bool", "Show extra details provided to logs"),
            F("follow", "bool", "Follow log output", short="f"),
            F(
                "since",
                "string",
                _SINCE_HELP,
            ),
            F(
                "tail",
                "string",
                "Number of lines to show from the end of the logs",
                short="n",
                default="all",
                default_text='"all"',
            ),
            F("timestamps", "bool", "Show timestamps", short="t"),
            F(
                "until",
                "string",
                _UNTIL_HELP,
            ),
        ],
        run_logs,
        args=("exact", 1),
        aliases="container logs,logs",
    ),
    "restart": Spec(
        "restart [OPTIONS] CONTAINER [CONTAINER...]",
        [_SIGNAL, _TIMEOUT],
        run_restart,
        args=("min", 1),
        aliases="container restart,restart",
    ),
    "rm": Spec(
        "rm [OPTIONS] CONTAINER [CONTAINER...]",
        [
            F("force", "bool", "Force the removal of a running container (uses SIGKILL)", short="f"),
            F("link", "bool", "Remove the specified link", short="l"),
            F("volumes", "bool", "Remove anonymous volumes associated with the container", short="v"),
        ],
        run_rm,
        args=("min", 1),
        aliases="container rm,container remove,rm",
    ),
    "start": Spec(
        "start [OPTIONS] CONTAINER [CONTAINER...]",
        [
            F("attach", "bool", "Attach STDOUT/STDERR and forward signals", short="a"),
            _DETACH_KEYS,
            F("interactive", "bool", "Attach container's STDIN", short="i"),
        ],
        run_start,
        args=("min", 1),
        aliases="container start,start",
    ),
    "stop": Spec(
        "stop [OPTIONS] CONTAINER [CONTAINER...]",
        [_SIGNAL, _TIMEOUT],
        run_stop,
        args=("min", 1),
        aliases="container stop,stop",
    ),
    "top": Spec(
        "top CONTAINER [ps OPTIONS]",
        [],
        run_top,
        args=("min", 1),
        aliases="container top,top",
        interspersed=False,
    ),
    "wait": Spec(
        "wait CONTAINER [CONTAINER...]", [], run_wait, args=("min", 1), aliases="container wait,wait"
    ),
}
