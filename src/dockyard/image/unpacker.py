"""The layer unpacker: a child program that applies one layer tar, read from stdin, to a directory.

A pull unpacks several layers at once. In threads of the daemon they fight over the GIL: every
file costs a handful of system calls, each of which releases and re-takes it, and three
unpacking threads plus the event loop turn that into a storm of futex calls (measured: more
system time than the work itself, and the daemon's event loop starved). One short-lived process
per layer runs on its own interpreter instead: the layers really unpack in parallel, and the
daemon only copies bytes into a pipe.

The program is ``archive.apply_layer`` and nothing more; it trusts its arguments (the daemon
made them) and none of the bytes (the layer is untrusted, exactly as in-process).

Protocol::

    python -m dockyard.image.unpacker ROOT [--lower DIR]... [--lowers-ready] [--max-bytes N]
                                           [--keep-whiteouts] [--unprivileged]
    stdin:  the layer blob (gzip, zstd, xz, bzip2 or plain tar)
    stdout: one JSON line: {"diff_id", "size", "uncompressed", "compression"}
            or {"error": {"kind": "InvalidArgument" | "SystemFailure" | "NeedLowers", "message"}}

``NeedLowers`` asks the daemon to run it again once the lower layers are complete: a hard link
into a lower layer needs them, and they may still have been unpacking when this one started.
"""

from __future__ import annotations

import os
import signal
import sys

from dockyard.errors import InvalidArgument
from dockyard.image.archive import ApplyOptions, apply_layer
from dockyard.util import jsoncodec, libc

__all__ = ["NEED_LOWERS", "main", "parse_args"]

NEED_LOWERS = "NeedLowers"


class _NeedLowers(Exception):
    """The layer needs its lower layers before they are known to be complete."""


def parse_args(argv: list[str]) -> tuple[str, list[str], bool, ApplyOptions]:
    """(root, lowers, lowers_ready, options) from the command line.

    Raises:
        ValueError: an unknown or incomplete argument.
    """
    root, lowers, ready = "", [], False
    max_bytes, whiteouts, privileged = ApplyOptions().max_bytes, "overlay", os.geteuid() == 0
    args = iter(argv)
    for arg in args:
        if arg == "--lower":
            lowers.append(next(args))
        elif arg == "--lowers-ready":
            ready = True
        elif arg == "--max-bytes":
            max_bytes = int(next(args))
        elif arg == "--keep-whiteouts":
            whiteouts = "keep"
        elif arg == "--unprivileged":
            privileged = False
        elif not root and not arg.startswith("-"):
            root = arg
        else:
            raise ValueError(f"unexpected argument {arg!r}")
    if not root:
        raise ValueError("missing ROOT")
    options = ApplyOptions(
        whiteouts="keep" if whiteouts == "keep" else "overlay", max_bytes=max_bytes, privileged=privileged
    )
    return root, lowers, ready, options


def _run(argv: list[str]) -> dict[str, object]:
    root, lower_paths, ready, options = parse_args(argv)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    opened: list[int] = []

    def lowers() -> list[int]:
        if not ready:
            raise _NeedLowers()
        for path in lower_paths:
            opened.append(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        return opened

    try:
        result = apply_layer(sys.stdin.buffer, root_fd, options=options, lowers=lowers)
    finally:
        for fd in (root_fd, *opened):
            os.close(fd)
    return {
        "diff_id": str(result.diff_id),
        "size": result.size,
        "uncompressed": result.uncompressed,
        "compression": result.compression,
    }


_PR_SET_PDEATHSIG = 1  # prctl(2)


def main(argv: list[str] | None = None) -> int:
    """Run the unpacker; the exit status is 0 when the layer was applied, 1 otherwise."""
    # If the daemon dies, so does this: a restarted daemon removes unfinished layers, and must
    # not race an orphan still writing into one.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        return 1
    try:
        answer = _run(sys.argv[1:] if argv is None else argv)
        status = 0
    except _NeedLowers:
        answer, status = {"error": {"kind": NEED_LOWERS, "message": "the lower layers are needed"}}, 1
    except InvalidArgument as exc:
        answer, status = {"error": {"kind": "InvalidArgument", "message": str(exc)}}, 1
    except Exception as exc:  # a process boundary: every failure becomes an answer
        answer, status = {"error": {"kind": "SystemFailure", "message": str(exc) or type(exc).__name__}}, 1
    sys.stdout.write(jsoncodec.dumps(answer) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
