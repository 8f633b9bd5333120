"""``dockyard-runtime``: runc's command line, parsed by hand.

The grammar is runc's (urfave/cli): global flags, a command, its flags, positional arguments.
Flags are ``--name value``, ``--name=value`` or ``-name``; booleans take no value; a repeated
flag (``--env``) accumulates. ``--`` ends the flags (``exec ID -- cmd -flag``). The parser is a
table walk rather than argparse: ``argparse`` imports ``re`` and ``gettext`` and costs more than
the whole create path is allowed (docs/unwritten-rules.md), and runc's grammar is small.

Errors follow runc: a message on stderr and, with ``--log``, a line in the log file (``text``:
logrus's ``time=... level=error msg=...``, ``json``: ``{"level":"error","msg":...,"time":...}``),
and exit status 1. This module catches ``Exception`` at the process boundary, nowhere else.

Every command is a process start, and ``start``, ``delete``, ``kill`` or ``state`` do so little
that Python's start-up is most of their time (runc's take ~5 ms; ``python -I -S`` alone ~8 ms
here). So the modules on their path import ``posix``, not ``os`` (~1.5 ms), and import the error
classes only where they raise them (~0.5 ms): the process boundary below looks them up after
the fact (container.py's essay has the rest).
"""

from __future__ import annotations

import gc
import posix
import sys

__all__ = ["COMMANDS", "GLOBAL_FLAGS", "Parsed", "main", "parse"]

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

# flag name -> (alias, kind): kind is "bool", "str" or "list".
GLOBAL_FLAGS: dict[str, tuple[str, str]] = {
    "root": ("", "str"),
    "log": ("", "str"),
    "log-format": ("", "str"),
    "debug": ("", "bool"),
    "systemd-cgroup": ("", "bool"),
    "criu": ("", "str"),
    "rootless": ("", "str"),
    "version": ("v", "bool"),
    "help": ("h", "bool"),
}
_CREATE = {
    "bundle": ("b", "str"),
    "pid-file": ("", "str"),
    "console-socket": ("", "str"),
    "no-pivot": ("", "bool"),
    "no-new-keyring": ("", "bool"),
    "preserve-fds": ("", "str"),
}
_UPDATE = {
    "resources": ("r", "str"),
    "memory": ("m", "str"),
    "memory-swap": ("", "str"),
    "memory-reservation": ("", "str"),
    "cpu-quota": ("", "str"),
    "cpu-period": ("", "str"),
    "cpu-shares": ("", "str"),
    "cpuset-cpus": ("", "str"),
    "cpuset-mems": ("", "str"),
    "pids-limit": ("", "str"),
    "blkio-weight": ("", "str"),
}
COMMANDS: dict[str, tuple[dict[str, tuple[str, str]], int, int]] = {
    # command -> (flags, minimum positional args, maximum positional args; -1 = any)
    "create": (_CREATE, 1, 1),
    "run": ({**_CREATE, "detach": ("d", "bool"), "keep": ("", "bool")}, 1, 1),
    "start": ({}, 1, 1),
    "state": ({}, 1, 1),
    "kill": ({"all": ("a", "bool")}, 1, 2),
    "delete": ({"force": ("f", "bool")}, 1, 1),
    "exec": (
        {
            "process": ("p", "str"),
            "detach": ("d", "bool"),
            "tty": ("t", "bool"),
            "console-socket": ("", "str"),
            "pid-file": ("", "str"),
            "cwd": ("", "str"),
            "env": ("e", "list"),
            "user": ("u", "str"),
            "additional-gids": ("g", "list"),
            "cap": ("c", "list"),
            "no-new-privs": ("", "bool"),
            "process-label": ("", "str"),
            "apparmor": ("", "str"),
            "preserve-fds": ("", "str"),
            "ignore-paused": ("", "bool"),
            "cgroup": ("", "list"),
        },
        1,
        -1,
    ),
    "ps": ({"format": ("f", "str")}, 1, -1),
    "pause": ({}, 1, 1),
    "resume": ({}, 1, 1),
    "update": (_UPDATE, 1, 1),
    "features": ({}, 0, 0),
    "spec": ({"bundle": ("b", "str"), "rootless": ("", "bool")}, 0, 0),
    "list": ({"format": ("f", "str"), "quiet": ("q", "bool")}, 0, 0),
}
_ALIASES = {"ls": "list", "rm": "delete"}


def _usage(message: str) -> Exception:
    from dockyard.runtime.failures import UsageError

    return UsageError(message)


class Parsed:
    """A parsed command line: global flags, the command, its flags and positional args."""

    __slots__ = ("args", "command", "flags", "globals")

    def __init__(self) -> None:
        self.globals: dict[str, object] = {}
        self.command = ""
        self.flags: dict[str, object] = {}
        self.args: list[str] = []

    def flag(self, name: str, default: str | None = None) -> str | None:
        value = self.flags.get(name, default)
        return value if isinstance(value, str) or value is None else default

    def has(self, name: str) -> bool:
        return bool(self.flags.get(name))

    def many(self, name: str) -> list[str]:
        value = self.flags.get(name, [])
        return list(value) if isinstance(value, list) else []


def _take_flags(
    argv: list[str], i: int, table: dict[str, tuple[str, str]], out: dict[str, object], *, stop_at_arg: bool
) -> tuple[int, list[str]]:
    """Consume flags from ``argv[i:]``; returns (next index, positional args met on the way)."""
    by_alias = {alias: name for name, (alias, _) in table.items() if alias}
    positional: list[str] = []
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return len(argv), positional + argv[i + 1 :]
        if not word.startswith("-") or word == "-":
            if stop_at_arg or positional:
                # the first positional ends flag parsing for commands (runc: flags before args)
                return i, positional
            positional.append(word)
            i += 1
            continue
        name, eq, value = word.lstrip("-").partition("=")
        name = by_alias.get(name, name)
        if name not in table:
            raise _usage(f"flag provided but not defined: -{name}")
        kind = table[name][1]
        i += 1
        if kind == "bool":
            out[name] = value.lower() not in ("false", "0") if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise _usage(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if kind == "list":
            existing = out.setdefault(name, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            out[name] = value
    return i, positional


def parse(argv: list[str]) -> Parsed:
    """Parse runc's grammar.

    Raises:
        UsageError: unknown command or flag, a missing value, or a wrong number of arguments.
    """
    parsed = Parsed()
    i, _ = _take_flags(argv, 0, GLOBAL_FLAGS, parsed.globals, stop_at_arg=True)
    if parsed.globals.get("version") or parsed.globals.get("help"):
        return parsed
    if i >= len(argv):
        raise _usage("no command given")
    command = _ALIASES.get(argv[i], argv[i])
    if command not in COMMANDS:
        raise _usage(f"No help topic for '{argv[i]}'")
    parsed.command = command
    table, least, most = COMMANDS[command]
    rest = argv[i + 1 :]
    j, before = _take_flags(rest, 0, table, parsed.flags, stop_at_arg=False)
    args = before + rest[j:]
    if command not in ("exec", "ps"):
        # runc lets flags follow the id for simple commands (urfave re-parses them); do the same
        k, more = _take_flags(args[1:], 0, table, parsed.flags, stop_at_arg=False)
        args = args[:1] + more + args[1:][k:]
    if len(args) < least or (most >= 0 and len(args) > most):
        raise _usage(f'"{command}" requires {"exactly" if least == most else "at least"} {least} argument(s)')
    parsed.args = args
    return parsed


class _Log:
    """Where errors go: stderr always, and ``--log`` in runc's text or json format."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path = path
        self.fmt = fmt

    def error(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        self.write("error", message)

    def write(self, level: str, message: str) -> None:
        if not self.path:
            return
        import time

        from dockyard.util import jsoncodec

        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = jsoncodec.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f"time={jsoncodec.dumps(stamp)} level={level} msg={jsoncodec.dumps(message)}"
        try:
            flags = posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC
            fd = posix.open(self.path, flags, 0o644)
            try:
                posix.write(fd, (line + "\n").encode())
            finally:
                posix.close(fd)
        except OSError:
            pass  # the log is best effort; stderr already has the message


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0, 1 on error, the container's for run/exec).

    Called as the program (no ``argv``), it ends the process itself once stdout and stderr are
    flushed: the interpreter's orderly teardown costs a few milliseconds per container start and
    the runtime registers nothing that needs it. The program also runs without the cyclic
    garbage collector: its passes while the create path is imported (a dozen, over the ~7,500
    objects the imports make) cost ~1 ms, and the runtime makes no garbage cycles worth
    collecting before it exits, or while ``run`` waits.
    """
    if argv is not None:
        return _main(argv)
    gc.disable()
    status = _main(sys.argv[1:])
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        posix._exit(status)


def _main(argv: list[str]) -> int:
    log = _Log(None, "text")
    try:
        parsed = parse(argv)
        g = parsed.globals
        log_path = g.get("log")
        log = _Log(log_path if isinstance(log_path, str) else None, str(g.get("log-format") or "text"))
        if log.fmt not in ("text", "json"):
            raise _usage(f"invalid log-format: {log.fmt}")
        if g.get("version"):
            sys.stdout.write(f"dockyard-runtime version {VERSION}\nspec: {SPEC_VERSION}\n")
            return 0
        if g.get("help"):
            sys.stdout.write("usage: dockyard-runtime [global flags] COMMAND [flags] ID\n")
            sys.stdout.write(f"commands: {' '.join(COMMANDS)}\n")
            return 0
        if g.get("systemd-cgroup"):
            from dockyard.errors import Unsupported

            raise Unsupported("--systemd-cgroup is not supported: dockyard-runtime drives cgroupfs only")
        from dockyard.runtime import commands

        return commands.dispatch(parsed, log)
    except Exception as exc:  # the process boundary (docs/architecture.md section 6)
        log.error(_describe(exc))
        return 1


def _describe(exc: Exception) -> str:
    """The message for a failure: ours as written, the kernel's as it says it, else a bug."""
    errors = sys.modules.get("dockyard.errors")  # nobody raised one of ours if it is not loaded
    if errors is not None and isinstance(exc, errors.DockyardError):
        return str(exc.message)
    if isinstance(exc, OSError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"
