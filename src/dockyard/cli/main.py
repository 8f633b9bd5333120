"""``dockyard``: the entry point. Global flags, the command table, dispatch and exit codes.

docker's grammar has two forms for most commands: management (``dockyard container run``,
``dockyard image ls``) and classic (``dockyard run``, ``dockyard images``). Both resolve here
to one ``Spec`` in a command module; only the path printed in usage and errors differs.

Global flags are parsed first and non-interspersed, as docker does, so ``dockyard -H x ps``
works and ``dockyard ps -H x`` is an unknown flag of ``ps``. A command module is imported only
once its command is chosen, so ``dockyard ps`` loads neither the run machinery nor the
template engine unless ``--format`` asks for it: start-up time is most of a short command.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli import options
from dockyard.cli.commands import base
from dockyard.errors import DockyardError

__all__ = ["COMMANDS", "GROUPS", "main"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

VERSION = "0.1.0"

# name -> (module in dockyard.cli.commands, spec name, one-line description)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "attach": (
        "container",
        "attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "create": ("run", "create", "Create a new container"),
    "exec": ("execute", "exec", "Execute a command in a running container"),
    "history": ("imagelist", "history", "Show the history of an image"),
    "images": ("imagelist", "images", "List images"),
    "import": ("image", "import", "Import the contents from a tarball to create a filesystem image"),
    "info": ("system", "info", "Display system-wide information"),
    "inspect": ("system", "inspect", "Return low-level information on Docker objects"),
    "kill": ("container", "kill", "Kill one or more running containers"),
    "load": ("image", "load", "Load an image from a tar archive or STDIN"),
    "logs": ("container", "logs", "Fetch the logs of a container"),
    "ps": ("listing", "ps", "List containers"),
    "pull": ("image", "pull", "Download an image from a registry"),
    "restart": ("container", "restart", "Restart one or more containers"),
    "rm": ("container", "rm", "Remove one or more containers"),
    "rmi": ("image", "rmi", "Remove one or more images"),
    "run": ("run", "run", "Create and run a new container from an image"),
    "save": ("image", "save", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "start": ("container", "start", "Start one or more stopped containers"),
    "stop": ("container", "stop", "Stop one or more running containers"),
    "tag": ("image", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "top": ("container", "top", "Display the running processes of a container"),
    "version": ("system", "version", "Show the Docker version information"),
    "wait": ("container", "wait", "Block until one or more containers stop, then print their exit codes"),
}
_MORE = f"Run '{base.PROG} --help' for more information"
TOP_COMMANDS = ("run", "exec", "ps", "pull", "images", "version", "info")

_CONTAINER = {
    name: name
    for name in (
        "attach",
        "create",
        "exec",
        "kill",
        "logs",
        "restart",
        "rm",
        "run",
        "start",
        "stop",
        "top",
        "wait",
    )
}
_IMAGE = {name: name for name in ("history", "import", "load", "pull", "save", "tag")}
# group -> (description, {subcommand: key in COMMANDS or "module:spec:description"})
GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "container": (
        "Manage containers",
        {
            **_CONTAINER,
            "inspect": "container:inspect:Display detailed information on one or more containers",
            "ls": "ps",
            "list": "ps",
            "ps": "ps",
            "remove": "rm",
        },
    ),
    "image": (
        "Manage images",
        {
            **_IMAGE,
            "inspect": "image:inspect:Display detailed information on one or more images",
            "ls": "images",
            "list": "images",
            "rm": "rmi",
            "remove": "rmi",
        },
    ),
    "system": ("Manage Docker", {"info": "info"}),
}
# Aliases docker hides from the group listings (``container list``, ``image remove`` ...).
_HIDDEN_IN_LISTING = frozenset({"list", "ps", "remove"})


def _global_flags() -> list[options.Flag]:
    F = options.Flag
    home = os.environ.get("HOME", "/root")
    return [
        F("config", "string", "Location of client config files", default_text=f'"{home}/.docker"'),
        F("debug", "bool", "Enable debug mode", short="D"),
        F("host", "list", "Daemon socket to connect to", short="H"),
        F(
            "log-level",
            "string",
            'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")',
            short="l",
            default="info",
            default_text='"info"',
        ),
        F("tls", "bool", "Use TLS; implied by --tlsverify"),
        F(
            "tlscacert",
            "string",
            "Trust certs signed only by this CA",
            default_text=f'"{home}/.docker/ca.pem"',
        ),
        F("tlscert", "string", "Path to TLS certificate file", default_text=f'"{home}/.docker/cert.pem"'),
        F("tlskey", "string", "Path to TLS key file", default_text=f'"{home}/.docker/key.pem"'),
        F("tlsverify", "bool", "Use TLS and verify the remote"),
        F("version", "bool", "Print version information and quit", short="v"),
        F("help", "bool", "Print usage", hidden=True),
    ]


def _tls_settings(parsed: options.Parsed, environ: dict[str, str]) -> dict[str, str | bool] | None:
    verify = parsed.flag("tlsverify") or bool(environ.get("DOCKER_TLS_VERIFY"))
    if not (verify or parsed.flag("tls")):
        return None
    cert_dir = environ.get("DOCKER_CERT_PATH") or os.path.join(environ.get("HOME", "/root"), ".docker")

    def path(flag: str, name: str) -> str:
        return parsed.text(flag) or os.path.join(cert_dir, name)

    return {
        "verify": verify,
        "ca": path("tlscacert", "ca.pem"),
        "cert": path("tlscert", "cert.pem"),
        "key": path("tlskey", "key.pem"),
    }


def _resolve(args: list[str]) -> tuple[str, str, str, str, list[str]] | None:
    """(path, module, spec, description, rest) for the command in ``args``; None for a group."""
    name = args[0]
    if name in GROUPS:
        if len(args) < 2 or args[1].startswith("-"):
            return None
        sub = args[1]
        target = GROUPS[name][1].get(sub)
        if target is None:
            raise base.StatusError(
                1,
                f"{base.PROG}: unknown command: {base.PROG} {name} {sub}\n\n"
                f"Run '{base.PROG} {name} --help' for more information",
            )
        if ":" in target:
            module, spec, short = target.split(":", 2)
        else:
            module, spec, short = COMMANDS[target]
        return f"{base.PROG} {name} {sub}", module, spec, short, args[2:]
    if name not in COMMANDS:
        raise base.StatusError(
            1,
            f"{base.PROG}: unknown command: {base.PROG} {name}\n\n{_MORE}",
        )
    module, spec, short = COMMANDS[name]
    return f"{base.PROG} {name}", module, spec, short, args[1:]


def _load_spec(module: str, name: str) -> base.Spec:
    # __import__ rather than importlib: one module fewer on every command's start-up path.
    specs = __import__(f"dockyard.cli.commands.{module}", fromlist=["SPECS"]).SPECS
    spec = specs[name]
    assert isinstance(spec, base.Spec)
    return spec


def _run_command(cli: base.Cli, path: str, spec: base.Spec, short: str, argv: list[str]) -> int:
    flags = [*spec.flags]
    names = {f.name for f in flags}
    shorts = {f.short for f in flags}
    if "help" not in names:
        flags.append(
            options.Flag("help", "bool", "Print usage", short="" if "h" in shorts else "h", hidden=True)
        )
    try:
        parsed = options.parse_flags(flags, argv, interspersed=spec.interspersed)
    except options.FlagError as exc:
        raise base.flag_error(path, spec, exc) from None
    if parsed.flag("help"):
        cli.out.write(base.usage_text(path, spec, short))
        return 0
    message = base.arg_error(path, spec, len(parsed.args))
    if message is not None:
        raise base.StatusError(1, message)
    cli.command_path = path
    return spec.run(cli, parsed)


def _group_help(name: str) -> str:
    short, subs = GROUPS[name]
    lines = [f"Usage:  {base.PROG} {name} COMMAND\n\n{short}\n\nCommands:"]
    for sub in sorted(subs):
        if sub in _HIDDEN_IN_LISTING:
            continue
        target = subs[sub]
        description = target.split(":", 2)[2] if ":" in target else COMMANDS[target][2]
        lines.append(f"  {sub:<11} {description}")
    lines.append(f"\nRun '{base.PROG} {name} COMMAND --help' for more information on a command.")
    return "\n".join(lines) + "\n"


def root_help() -> str:
    """``dockyard --help``: docker's root usage template, with dockyard's commands."""
    lines = [
        f"Usage:  {base.PROG} [OPTIONS] COMMAND\n",
        "A self-sufficient runtime for containers\n",
        "Common Commands:",
    ]
    lines += [f"  {name:<11} {COMMANDS[name][2]}" for name in TOP_COMMANDS]
    lines.append("\nManagement Commands:")
    lines += [f"  {name:<11} {GROUPS[name][0]}" for name in sorted(GROUPS)]
    lines.append("\nCommands:")
    lines += [f"  {name:<11} {COMMANDS[name][2]}" for name in sorted(COMMANDS) if name not in TOP_COMMANDS]
    usages = options.flag_usages(_global_flags(), base.terminal_width() - 1).rstrip()
    lines.append(f"\nGlobal Options:\n{usages}\n")
    lines.append(f"Run '{base.PROG} COMMAND --help' for more information on a command.")
    return "\n".join(lines) + "\n"


def dispatch(argv: Sequence[str], environ: dict[str, str] | None = None) -> int:
    """Run one command line; returns the exit status. Errors are printed, not raised."""
    env = dict(os.environ if environ is None else environ)
    cli: base.Cli | None = None
    try:
        try:
            parsed = options.parse_flags(_global_flags(), argv, interspersed=False)
        except options.FlagError as exc:
            raise base.StatusError(
                125,
                f"{exc}\n\nUsage:  {base.PROG} [OPTIONS] COMMAND\n\n{_MORE}",
            ) from None
        hosts = parsed.items("host")
        if len(hosts) > 1:
            raise base.StatusError(1, "Specify only one -H")
        cli = base.Cli(
            host_flag=hosts[0] if hosts else None,
            tls=_tls_settings(parsed, env),
            config_dir=parsed.text("config") or None,
            environ=env,
        )
        return _dispatch_command(cli, parsed)
    except base.StatusError as exc:
        if exc.message:
            sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.status or 1
    except DockyardError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        # Our own I/O failing (a closed terminal, a full disk): report it, never a traceback.
        sys.stderr.write(f"{base.PROG}: {exc.strerror or exc}\n")
        return 1
    except BrokenPipeError:
        # `dockyard ps | head -1`: the reader left; stay quiet like a Go program on EPIPE.
        _silence_stdout()
        return 0
    finally:
        if cli is not None:
            cli.close()


def _dispatch_command(cli: base.Cli, parsed: options.Parsed) -> int:
    args = parsed.args
    if parsed.flag("version") and not args:
        cli.print(f"{base.PROG} version {VERSION}")
        return 0
    if not args or (parsed.flag("help") and not args):
        cli.out.write(root_help())
        return 0
    if args[0] == "help":
        return _help_command(cli, args[1:])
    resolved = _resolve(args)
    if resolved is None:
        if len(args) > 1 and args[1] not in ("--help", "-h"):
            raise base.StatusError(
                125,
                f"unknown flag: {args[1]}\n\nUsage:  {base.PROG} {args[0]} COMMAND\n\n"
                f"Run '{base.PROG} {args[0]} --help' for more information",
            )
        cli.out.write(_group_help(args[0]))
        return 0
    path, module, name, short, rest = resolved
    spec = _load_spec(module, name)
    return _run_command(cli, path, spec, short, rest)


def _help_command(cli: base.Cli, topic: list[str]) -> int:
    if not topic:
        cli.out.write(root_help())
        return 0
    resolved = _resolve(topic)
    if resolved is None:
        cli.out.write(_group_help(topic[0]))
        return 0
    path, module, name, short, rest = resolved
    if rest:
        raise base.StatusError(1, f"unknown help topic: {' '.join(topic)}")
    cli.out.write(base.usage_text(path, _load_spec(module, name), short))
    return 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """The ``dockyard`` console script; returns the process exit status."""
    status = dispatch(sys.argv[1:] if argv is None else argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return status
