"""One function per runc command: parse nothing (cli.py did), lock, act, print.

Every command that touches a container holds an exclusive flock on its state directory for the
duration of its work (runc does the same), so two ``kill``/``delete``/``pause`` never interleave.
``run`` and foreground ``exec`` are the only long-lived commands: they hold no lock while they
wait, only while they create and delete.

Each command imports what it alone needs, when it runs; the module itself loads only the record
(container.py) and, like it, uses ``posix`` and imports error classes where they are raised, so
that ``start``, ``kill`` and ``delete`` start as fast as Python can (cli.py's essay).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C core: no enum import
import posix
import sys

from dockyard.runtime.container import DEFAULT_ROOT, RuntimeContainer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.runtime.cgroups import Cgroup
    from dockyard.runtime.cli import Parsed, _Log
    from dockyard.runtime.main_process import CreateOptions

__all__ = ["SIGNALS", "dispatch", "parse_signal"]

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
"""Linux signal numbers (signal(7), x86 and arm)."""


def parse_signal(text: str) -> int:
    """A signal by name (``KILL``, ``SIGKILL``, ``sigkill``, ``RTMIN+2``) or number (1-64).

    Raises:
        InvalidArgument: unknown signal (runc's wording).
    """
    if text.isdigit():
        number = int(text)
        if 1 <= number <= 64:
            return number
        raise _unknown_signal(f'"{text}"')
    name = text.upper().removeprefix("SIG")
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        base, sign, offset = name[:5], name[5:6], name[6:]
        if (not offset or offset.isdigit()) and sign in ("", "+", "-") and not (sign and not offset):
            number = (34 if base == "RTMIN" else 64) + (int(offset or 0) * (-1 if sign == "-" else 1))
            if 34 <= number <= 64:
                return number
    if name in SIGNALS:
        return SIGNALS[name]
    raise _unknown_signal(f'"{text}"')


def _unknown_signal(quoted: str) -> Exception:
    from dockyard.errors import InvalidArgument

    return InvalidArgument(f"unknown signal {quoted}")


def _root(parsed: Parsed) -> str:
    root = parsed.globals.get("root")
    return root if isinstance(root, str) else DEFAULT_ROOT


def _load(parsed: Parsed) -> RuntimeContainer:
    return RuntimeContainer.load(_root(parsed), parsed.args[0])


def _conflict(message: str) -> Exception:
    from dockyard.errors import Conflict

    return Conflict(message)


def _state_text(data: dict[str, object]) -> str:
    """runc's ``state`` output: Go's ``json.MarshalIndent(s, "", "  ")`` of a flat object."""
    from dockyard.util import jsoncodec

    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            if not value:
                text = "{}"
            else:
                inner = ",\n".join(
                    f"    {jsoncodec.dumps(k)}: {jsoncodec.dumps(v)}" for k, v in value.items()
                )
                text = "{\n" + inner + "\n  }"
        else:
            text = jsoncodec.dumps(value)
        lines.append(f"  {jsoncodec.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}"


# --- lifecycle ---------------------------------------------------------------------------------


def cmd_create(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import main_process

    main_process.create(_create_options(parsed, use_fifo=True))
    return 0


def _create_options(parsed: Parsed, *, use_fifo: bool) -> CreateOptions:
    from dockyard.runtime.main_process import CreateOptions

    return CreateOptions(
        root=_root(parsed),
        container_id=parsed.args[0],
        bundle=parsed.flag("bundle") or ".",
        pid_file=parsed.flag("pid-file"),
        console_socket=parsed.flag("console-socket"),
        use_fifo=use_fifo,
    )


def cmd_start(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import lifecycle

    container = _load(parsed)
    with container.lock():
        for warning in lifecycle.start(container):
            log.write("warning", warning)
    return 0


def cmd_run(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import run_process

    options = _create_options(parsed, use_fifo=parsed.has("detach"))
    return run_process.run(options, detach=parsed.has("detach"), log=log)


def cmd_state(parsed: Parsed, log: _Log) -> int:
    container = _load(parsed)
    sys.stdout.write(_state_text(container.state().to_json()))
    sys.stdout.flush()
    return 0


def cmd_kill(parsed: Parsed, log: _Log) -> int:
    sig = parse_signal(parsed.args[1] if len(parsed.args) > 1 else "SIGTERM")
    container = _load(parsed)
    with container.lock():
        status = container.status()
        if status == "stopped" and not parsed.has("all"):
            raise _conflict("container not running")
        cgroup = container.cgroup() if parsed.has("all") else None
        if cgroup is not None:
            cgroup.kill_all(sig)
            return 0
        signal_init(container, sig)
    return 0


def signal_init(container: RuntimeContainer, sig: int) -> None:
    """Signal init through a pidfd, after checking the pid is still ours (start time).

    Raises:
        Conflict: init is gone.
    """
    try:
        pidfd = posix.pidfd_open(container.pid)
    except OSError:
        raise _conflict("container not running") from None
    try:
        if not container.is_alive():  # checked after pidfd_open: the pidfd cannot be recycled
            raise _conflict("container not running")
        _signal.pidfd_send_signal(pidfd, sig)
    finally:
        posix.close(pidfd)


def _wait_dead(container: RuntimeContainer, timeout: float = 10.0) -> None:
    import select

    try:
        pidfd = posix.pidfd_open(container.pid)
    except OSError:
        return
    try:
        if container.is_alive():
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(int(timeout * 1000))
    finally:
        posix.close(pidfd)


def cmd_delete(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import lifecycle

    try:
        container = _load(parsed)
    except Exception:
        if parsed.has("force"):
            return 0  # runc: delete --force of a missing container succeeds
        raise
    with container.lock():
        status = container.status()
        if status in ("running", "paused") and not parsed.has("force"):
            raise _conflict(f"cannot delete container {container.id} that is not stopped: {status}")
        if status != "stopped":
            # SIGKILL to init ends its whole pid namespace (pid_namespaces(7)); whatever is left
            # (no pid namespace, a paused cgroup) goes in delete_stopped's kill_all.
            if status == "paused":
                cgroup = container.cgroup()
                if cgroup is not None:
                    cgroup.thaw()
            try:
                signal_init(container, 9)
            except Exception:
                if container.is_alive():
                    raise
                # it died since we looked
            _wait_dead(container)
        for warning in lifecycle.delete_stopped(container):
            log.write("warning", warning)
    return 0


def cmd_pause(parsed: Parsed, log: _Log) -> int:
    container = _load(parsed)
    with container.lock():
        if container.status() not in ("running", "created"):
            raise _conflict("container not running")
        _cgroup_of(container).freeze()
    return 0


def cmd_resume(parsed: Parsed, log: _Log) -> int:
    container = _load(parsed)
    with container.lock():
        if container.status() != "paused":
            raise _conflict("container not paused")
        _cgroup_of(container).thaw()
    return 0


def _cgroup_of(container: RuntimeContainer) -> Cgroup:
    cgroup = container.cgroup()
    if cgroup is None:
        from dockyard.errors import SystemFailure

        raise SystemFailure(f"container {container.id} has no cgroup")
    return cgroup


def cmd_ps(parsed: Parsed, log: _Log) -> int:
    container = _load(parsed)
    cgroup = container.cgroup()
    pids = cgroup.pids() if cgroup is not None else ([container.pid] if container.is_alive() else [])
    if (parsed.flag("format") or "table") == "json":
        from dockyard.util import jsoncodec

        sys.stdout.write(jsoncodec.dumps(pids) + "\n")
        return 0
    if parsed.flag("format") not in (None, "table"):
        from dockyard.errors import InvalidArgument

        raise InvalidArgument(f"invalid format option: {parsed.flag('format')}")
    return _ps_table(pids, parsed.args[1:] or ["-ef"])


def _ps_table(pids: list[int], ps_args: list[str]) -> int:
    """runc's table: ``ps`` output filtered to the container's pids (by the PID column)."""
    import os

    from dockyard.errors import SystemFailure

    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        child = os.posix_spawnp(
            "ps", ["ps", *ps_args], dict(os.environ), file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)]
        )
    finally:
        os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    if os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) != 0:
        raise SystemFailure(f"ps {' '.join(ps_args)} failed")
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise SystemFailure("couldn't find PID field in ps output")
    column = header.index("PID")
    wanted = {str(p) for p in pids}
    out = [lines[0]] + [
        line for line in lines[1:] if len(line.split()) > column and line.split()[column] in wanted
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def cmd_update(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import update

    container = _load(parsed)
    with container.lock():
        resources = update.resources_from(parsed)
        _cgroup_of(container).update(resources)
    return 0


def cmd_exec(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import join_process

    return join_process.exec_command(_root(parsed), parsed)


def cmd_features(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import features

    sys.stdout.write(features.features_text() + "\n")
    return 0


def cmd_spec(parsed: Parsed, log: _Log) -> int:
    from dockyard.runtime import features

    features.write_default_spec(parsed.flag("bundle") or ".")
    return 0


def cmd_list(parsed: Parsed, log: _Log) -> int:
    root = _root(parsed)
    rows = []
    for ident in RuntimeContainer.list_ids(root):
        try:
            rows.append(RuntimeContainer.load(root, ident).state())
        except Exception:
            continue
    if parsed.has("quiet"):
        sys.stdout.write("".join(f"{s.id}\n" for s in rows))
    elif (parsed.flag("format") or "table") == "json":
        from dockyard.util import jsoncodec

        sys.stdout.write(jsoncodec.dumps([s.to_json() for s in rows]) + "\n")
    else:
        sys.stdout.write(f"{'ID':<12} {'PID':<10} {'STATUS':<10} {'BUNDLE':<20} {'CREATED':<30} OWNER\n")
        for s in rows:
            sys.stdout.write(
                f"{s.id:<12} {s.pid:<10} {s.status:<10} {s.bundle:<20} {s.created:<30} {s.owner}\n"
            )
    return 0


_DISPATCH: dict[str, Callable[[Parsed, _Log], int]] = {
    "create": cmd_create,
    "start": cmd_start,
    "run": cmd_run,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "ps": cmd_ps,
    "update": cmd_update,
    "exec": cmd_exec,
    "features": cmd_features,
    "spec": cmd_spec,
    "list": cmd_list,
}


def dispatch(parsed: Parsed, log: _Log) -> int:
    """Run the parsed command; returns its exit status."""
    return _DISPATCH[parsed.command](parsed, log)
