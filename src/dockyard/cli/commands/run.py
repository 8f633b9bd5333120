"""``run`` and ``create``: docker's sequence of API calls, and its exit statuses.

``create`` asks the daemon to create the container; if the image is missing (404) and
``--pull`` allows it, it prints ``Unable to find image 'alpine:latest' locally``, pulls with
progress on stderr, and asks again. ``run`` then, as docker's ``runContainer`` does:

1. attaches first (hijacked ``/attach``), unless ``-d``, so no output is lost;
2. sends ``/wait`` with condition ``next-exit`` (``removed`` with ``--rm``, whose container
   the daemon deletes by itself through AutoRemove) before starting, so the exit cannot be
   missed;
3. starts, resizes the TTY to our terminal (and again on SIGWINCH), and relays the streams in
   raw mode until the output ends or the detach keys are typed;
4. exits with the container's status.

Failures before the container's command runs are the CLI's: status 125 for a daemon error, 126
when the command cannot be invoked (permission denied, a directory), 127 when it is not found,
each printed as ``dockyard: <error>`` with a pointer to ``--help``.
"""

from __future__ import annotations

import os

from dockyard.cli import options
from dockyard.cli.commands import runconfig, runflags
from dockyard.cli.commands.base import PROG, Cli, Spec, StatusError
from dockyard.cli.commands.container import attach_query, attach_streams, detach_keys_for, resize_tty
from dockyard.errors import DockyardError, InvalidArgument, NotFound

__all__ = ["SPECS", "create_container"]


def _report(command: str, error: object, status: int = 125) -> StatusError:
    return StatusError(status, f"{PROG}: {error}\n\nRun '{PROG} {command} --help' for more information")


def _start_error_status(message: str) -> int:
    """docker's ``runStartContainerErr``: 127 not found, 126 not executable, else 125."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _console_size(cli: Cli) -> tuple[int, int]:
    from dockyard.cli import terminal

    try:
        size = terminal.window_size(cli.out.fileno())
    except (AttributeError, OSError, ValueError):
        size = None
    return size or (0, 0)


def create_container(cli: Cli, parsed: options.Parsed, body: dict[str, object], command: str) -> str:
    """Create the container (pulling a missing image as ``--pull`` allows); return its ID.

    Raises:
        StatusError: docker's report of a failure, status 125.
    """
    from dockyard.cli.commands.image import pull_image
    from dockyard.cli.commands.reference import parse_normalized

    image = str(body["Image"])
    pull = parsed.text("pull")
    query: dict[str, object] = {}
    if parsed.text("name"):
        query["name"] = parsed.text("name")
    if parsed.text("platform"):
        query["platform"] = parsed.text("platform")
    try:
        ref = None if _looks_like_id(image) else parse_normalized(image).with_default_tag()
        if pull == "always" and ref is not None:
            pull_image(cli, image, platform=parsed.text("platform"), quiet=parsed.flag("quiet"), to_err=True)
        try:
            result = cli.client.call("POST", "/containers/create", query=query, body=body)
        except NotFound:
            if ref is None or pull not in ("missing", ""):
                raise
            if not parsed.flag("quiet"):
                cli.err.write(f"Unable to find image '{ref.familiar()}' locally\n")
                cli.err.flush()
            pull_image(cli, image, platform=parsed.text("platform"), quiet=parsed.flag("quiet"), to_err=True)
            result = cli.client.call("POST", "/containers/create", query=query, body=body)
    except DockyardError as exc:
        raise _report(command, exc) from None
    assert isinstance(result, dict)
    for warning in result.get("Warnings") or []:
        cli.warn(f"WARNING: {warning}")
    ident = str(result.get("Id") or "")
    if parsed.text("cidfile"):
        _write_cidfile(parsed.text("cidfile"), ident)
    return ident


def _looks_like_id(image: str) -> bool:
    body = image.removeprefix("sha256:")
    return len(body) == 64 and all(c in "0123456789abcdef" for c in body)


def _write_cidfile(path: str, ident: str) -> None:
    if os.path.exists(path):
        raise InvalidArgument(
            f"container ID file found, make sure the other container isn't running or delete {path}"
        )
    with open(path, "w") as handle:
        handle.write(ident)


def _prepare(cli: Cli, parsed: options.Parsed, command: str) -> dict[str, object]:
    pull = parsed.text("pull")
    if pull not in ("always", "missing", "never", ""):
        raise _report(
            command, f'invalid pull option: \'{pull}\': must be one of "always", "missing" or "never"'
        )
    try:
        return runconfig.build_body(parsed, cli.environ, _console_size(cli))
    except InvalidArgument as exc:
        raise _report(command, exc) from None


def run_create(cli: Cli, parsed: options.Parsed) -> int:
    """``create``: create the container (pulling a missing image) and print its ID."""
    body = _prepare(cli, parsed, "create")
    cli.print(create_container(cli, parsed, body, "create"))
    return 0


def run_run(cli: Cli, parsed: options.Parsed) -> int:
    """``run``: create, attach, wait, start and relay, as docker does (see the module docstring)."""
    body = _prepare(cli, parsed, "run")
    detach = parsed.flag("detach")
    if detach:
        if parsed.items("attach"):
            raise StatusError(1, "conflicting options: cannot specify both --attach and --detach")
        body.update(AttachStdin=False, AttachStdout=False, AttachStderr=False, StdinOnce=False)
    elif body["Tty"] and body["AttachStdin"] and not cli.in_is_terminal():
        raise StatusError(1, "the input device is not a TTY")
    ident = create_container(cli, parsed, body, "run")
    if detach:
        cli.print(ident)
        cli.out.flush()
        _start(cli, ident)
        return 0
    return _run_attached(cli, parsed, body, ident)


def _start(cli: Cli, ident: str) -> None:
    try:
        cli.client.call("POST", f"/containers/{ident}/start")
    except DockyardError as exc:
        raise _report("run", exc, _start_error_status(str(exc))) from None


def _run_attached(cli: Cli, parsed: options.Parsed, body: dict[str, object], ident: str) -> int:
    from dockyard.cli.commands.container import ExitWaiter

    tty, stdin = bool(body["Tty"]), bool(body["AttachStdin"])
    keys = detach_keys_for(cli, parsed.text("detach-keys"))
    attached = body["AttachStdout"] or body["AttachStderr"] or stdin
    conn = None
    if attached:
        query = attach_query(stdin, bool(body["AttachStdout"]), bool(body["AttachStderr"]), keys)
        conn = cli.client.hijack(f"/containers/{ident}/attach", query=query)
    host = body["HostConfig"]
    assert isinstance(host, dict)
    waiter = ExitWaiter(cli, ident, "removed" if host.get("AutoRemove") else "next-exit")
    try:
        _start(cli, ident)
    except StatusError:
        if conn is not None:
            conn.close()
        try:
            if host.get("AutoRemove"):
                # docker waits for the daemon to remove the container before reporting; a
                # daemon that never does would hang it forever, so the wait is bounded here.
                waiter.status(timeout=10)
        except DockyardError:
            pass
        finally:
            waiter.close()
        raise
    if conn is None:
        return waiter.status()
    if tty and cli.out_is_terminal():
        resize_tty(cli, f"/containers/{ident}")
    outcome = attach_streams(
        cli,
        conn,
        tty=tty,
        stdin=stdin,
        detach_keys=keys,
        resize_path=f"/containers/{ident}",
        kill_path=f"/containers/{ident}" if parsed.flag("sig-proxy") else None,
    )
    if outcome == "detached":
        waiter.close()
        return 0
    return waiter.status()


SPECS = {
    "run": Spec(
        "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        runflags.RUN_FLAGS,
        run_run,
        args=("min", 1),
        aliases="container run,run",
        interspersed=False,
    ),
    "create": Spec(
        "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
        runflags.CREATE_FLAGS,
        run_create,
        args=("min", 1),
        aliases="container create,create",
        interspersed=False,
    ),
}
