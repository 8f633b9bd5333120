"""What every command shares: the invocation context, exit statuses, and docker's usage texts.

A command is a ``Spec`` (its usage line, flags and argument rule; its one-line description
lives in the command table of :mod:`dockyard.cli.main`) and a
function ``run(cli, parsed) -> int`` in a command module. ``Cli`` is the invocation: the
streams, the environment, the global options, and the Engine API client, created on first use
so that ``--help`` and flag errors never touch the daemon. Creating the client is also where
the daemon is autostarted (see :mod:`dockyard.cli.commands.autostart`).

Exit statuses are docker's: 0; 1 for a failed command or bad arguments; 125 for flag errors
and for ``run``/``create`` failing before the container started; 126/127 when the container's
command cannot be invoked or is not found; otherwise ``run`` exits with the container's code.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli import options
from dockyard.errors import DockyardError, InvalidArgument

__all__ = ["Cli", "Spec", "StatusError", "arg_error", "usage_text"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import BinaryIO, TextIO

    from dockyard.cli.client import Client

PROG = "dockyard"


class StatusError(DockyardError):
    """End the command with ``status``; ``message`` (if any) goes to stderr as is."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status


class Spec:
    """A command's declaration: names, usage, description, flags and argument rule.

    ``args`` is ("none",), ("min", n), ("max", n), ("exact", n) or ("range", lo, hi).
    ``interspersed`` False stops flag parsing at the first argument (``run IMAGE CMD -l``).
    """

    __slots__ = ("aliases", "args", "flags", "interspersed", "run", "use")

    def __init__(
        self,
        use: str,
        flags: Sequence[options.Flag],
        run: Callable[[Cli, options.Parsed], int],
        *,
        args: tuple[object, ...] = ("none",),
        aliases: str = "",
        interspersed: bool = True,
    ) -> None:
        self.use, self.flags, self.run = use, list(flags), run
        self.args, self.aliases, self.interspersed = args, aliases, interspersed


class Cli:
    """One invocation of the CLI: streams, environment, global options, and the client."""

    def __init__(
        self,
        *,
        host_flag: str | None = None,
        tls: dict[str, str | bool] | None = None,
        config_dir: str | None = None,
        environ: Mapping[str, str] | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.host_flag = host_flag
        self.tls = tls
        self.config_dir = (
            config_dir
            or self.environ.get("DOCKER_CONFIG")
            or os.path.join(self.environ.get("HOME", "/root"), ".docker")
        )
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self._client: Client | None = None
        self._config: dict[str, object] | None = None
        self.command_path = PROG

    @property
    def host(self) -> str:
        from dockyard.cli.client import resolve_host

        return resolve_host(self.host_flag, self.environ)

    @property
    def client(self) -> Client:
        """The Engine API client, connected and version-negotiated on first use.

        Raises:
            DockyardError: the daemon cannot be reached (and could not be autostarted).
        """
        if self._client is None:
            from dockyard.cli.client import Client
            from dockyard.cli.commands import autostart

            client = Client(self.host, tls=self.tls)
            autostart.ensure_daemon(self, client)
            self._client = client
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def config(self) -> dict[str, object]:
        """``config.json`` from the client config directory (``{}`` if absent or unreadable)."""
        if self._config is None:
            from dockyard.util import jsoncodec

            try:
                with open(os.path.join(self.config_dir, "config.json"), "rb") as handle:
                    loaded = jsoncodec.loads(handle.read())
                self._config = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._config = {}
        return self._config

    @property
    def out_bytes(self) -> BinaryIO:
        self.out.flush()
        return self.out.buffer

    @property
    def err_bytes(self) -> BinaryIO:
        self.err.flush()
        return self.err.buffer

    def out_is_terminal(self) -> bool:
        return _isatty(self.out)

    def in_is_terminal(self) -> bool:
        return _isatty(self.stdin)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


# --- docker's usage texts -------------------------------------------------------------------


def use_line(path: str, spec: Spec) -> str:
    """cobra's ``UseLine``: the command path followed by the rest of the ``Use`` string."""
    _, _, rest = spec.use.partition(" ")
    return f"{path} {rest}".rstrip() if rest else path


def terminal_width() -> int:
    """The width docker wraps help to: stdin's terminal width, else 80."""
    try:
        return os.get_terminal_size(0).columns
    except OSError:
        return 80


def usage_text(path: str, spec: Spec, short: str) -> str:
    """``<cmd> --help`` as docker prints it (cobra with docker's usage template)."""
    parts = [f"Usage:  {use_line(path, spec)}\n\n{short}\n"]
    if spec.aliases:
        aliases = ", ".join(f"{PROG} {a}" for a in spec.aliases.split(","))
        parts.append(f"\nAliases:\n  {aliases}\n")
    visible = [f for f in spec.flags if not f.hidden]
    if visible:
        block = options.flag_usages(visible, terminal_width() - 1).rstrip()
        parts.append(f"\nOptions:\n{block}\n")
    return "".join(parts)


def _more(path: str) -> str:
    return f"Run '{path} --help' for more information"


def arg_error(path: str, spec: Spec, count: int) -> str | None:
    """docker's argument-count message for ``count`` arguments, or None if they fit."""
    rule = spec.args
    kind = rule[0]
    usage = use_line(path, spec)

    def plural(n: object) -> str:
        return "argument" if n == 1 else "arguments"

    if kind == "none" and count:
        return f"{PROG}: '{path}' accepts no arguments\n\nUsage:  {usage}\n\n{_more(path)}"
    if kind == "min" and count < rule[1]:  # type: ignore[operator]
        return (
            f"{PROG}: '{path}' requires at least {rule[1]} {plural(rule[1])}\n\nUsage:  {usage}\n\n"
            f"See '{path} --help' for more information"
        )
    if kind == "max" and count > rule[1]:  # type: ignore[operator]
        return (
            f"{PROG}: '{path}' requires at most {rule[1]} {plural(rule[1])}\n\nUsage:  {usage}\n\n"
            f"Run '{path} --help' for more information"
        )
    if kind == "exact" and count != rule[1]:
        return (
            f"{PROG}: '{path}' requires {rule[1]} {plural(rule[1])}\n\nUsage:  {usage}\n\n"
            f"Run '{path} --help' for more information"
        )
    if kind == "range" and not rule[1] <= count <= rule[2]:  # type: ignore[operator]
        return (
            f"{PROG}: '{path}' requires at least {rule[1]} and at most {rule[2]} {plural(rule[2])}\n\n"
            f"Usage:  {usage}\n\nRun '{path} --help' for more information"
        )
    return None


def flag_error(path: str, spec: Spec, error: InvalidArgument) -> StatusError:
    """docker's FlagErrorFunc: the error, the usage line, a pointer to --help; status 125."""
    return StatusError(
        125, f"{error}\n\nUsage:  {use_line(path, spec)}\n\nRun '{path} --help' for more information"
    )


FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'table':            Print output in table format with column headers (default)\n"
    "'table TEMPLATE':   Print output in table format using the given Go template\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with "
    "templates"
)
INSPECT_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with "
    "templates"
)


def for_each(
    cli: Cli, refs: Sequence[str], action: Callable[[str], str | None], *, ignore_not_found: bool = False
) -> int:
    """Run ``action`` on each reference as docker's multi-argument commands do (stop, rm, kill).

    Each success prints its line at once; errors are collected and printed after the last
    reference, and the status is then 1. With ``ignore_not_found`` (``rm -f``) a missing
    object's error is printed but does not fail the command.
    """
    from dockyard.errors import NotFound

    errors: list[str] = []
    for ref in refs:
        try:
            line = action(ref)
        except NotFound as exc:
            if ignore_not_found:
                cli.err.write(f"{exc}\n")
                continue
            errors.append(str(exc))
            continue
        except DockyardError as exc:
            errors.append(str(exc))
            continue
        if line is not None:
            cli.print(line)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0
