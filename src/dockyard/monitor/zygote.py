"""The monitor zygote: one pre-imported interpreter that forks every monitor copy-on-write.

**Why.** A fresh Python process costs 2-3 MiB of private memory and tens of milliseconds before
it runs a line of ours, and there is one monitor per running container. Forked from a process
that has already imported everything, a monitor shares the interpreter, the modules and their
code with its zygote and its siblings, and pays only for the pages it writes: its own objects,
its buffers, and the parts of shared objects whose reference counts it touches. Starting is a
``fork()`` (well under a millisecond) instead of an interpreter start.

**How.** The engine's side (``monitor.spawner.Zygote``) starts this program once, with one end
of a SOCK_SEQPACKET socketpair as fd N. Each request is one packet: the monitor directory as
bytes, and the spawner's sync pipe as an SCM_RIGHTS fd. For each the zygote forks; the child
runs ``main.run_detached``, which loads the config, double-forks away (so the monitor's parent
is init, not the zygote, and the zygote's death or the daemon's cannot touch it) and
supervises. The zygote reaps the short-lived child at once. The zygote exits when the engine's
end of the socket closes (the daemon stopped or died), leaving its monitors running.

**Sharing.** ``gc.freeze()`` before every fork moves every object the zygote holds into the
permanent generation, so a collection in a monitor never writes to the shared pages (the
garbage collector's own bookkeeping would otherwise copy them all; see the ``gc.freeze``
documentation, which recommends exactly this for pre-fork servers). Each page the zygote
writes after a fork becomes the monitor's own copy, so its loop between requests is short
and plain, allocates little, and leaves collection off (it makes no cycles; each monitor
turns collection back on).

**What a monitor still writes**, measured page by page (bench/README.md has the breakdown):
in CPython 3.11 every object a process uses gets its reference count written, even when the
count ends where it started, so a monitor owns a copy of each page holding anything it ran
or read (code objects, which also count their own runs, functions, constants, builtins,
interned strings, the interpreter's statics and type cache), plus the pages its allocations
land on and the bookkeeping of each ``fork``. Hence, before the first fork, once:

- ``warmup.warm_up`` runs the monitor's code, so that what CPython does only once (bytecode
  specialisation, caches, lazily built objects) is done in shared pages;
- ``ballast.fill`` fills the allocators' holes, so a monitor's allocations land side by side
  in fresh memory instead of in free blocks scattered through shared pages;
- ``main.settle`` puts the process in the state a monitor wants (cwd, umask, stdio), so no
  monitor spends pages getting there;
- ``_offer_to_ksm`` marks its memory for kernel same-page merging: where the host runs
  ksmd, the pages monitors wrote back to what they were, or identically to each other, are
  merged again (that leaves about a third of the rest, bench/README.md);
- the spawner starts the zygote with glibc's per-size free-chunk caches off
  (``spawner.MALLOC_TUNABLES``), which keeps its heap in fewer, larger holes.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; `signal` imports enum (6 ms)
import _socket
import ctypes  # loaded anyway (util.libc, for prctl)
import gc
import os
import sys

from dockyard.monitor import ballast, main, warmup

__all__ = ["serve"]

MADV_MERGEABLE = 12  # include/uapi/asm-generic/mman-common.h

# Set up at import, before the warm-up: like any ctypes set-up it fills the type cache.
_madvise = ctypes.CDLL(None).madvise
_madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


_ANCILLARY = _socket.CMSG_SPACE(4)


def _receive(sock: _socket.socket) -> tuple[bytes, int] | None:
    """One request: (monitor directory, sync fd or -1); None when the engine has gone.

    Every page the zygote writes between two forks becomes the earlier monitor's own copy,
    so this path is plain loops and allocates little."""
    try:
        data, ancillary, _, _ = sock.recvmsg(4096, _ANCILLARY, _socket.MSG_CMSG_CLOEXEC)
    except InterruptedError:
        return b"", -1
    if not data:
        return None
    sync_fd = -1
    for level, kind, payload in ancillary:
        if level != _socket.SOL_SOCKET or kind != _socket.SCM_RIGHTS:
            continue
        for start in range(0, len(payload) - len(payload) % 4, 4):
            fd = int.from_bytes(payload[start : start + 4], sys.byteorder)
            if sync_fd < 0:
                sync_fd = fd
            else:
                os.close(fd)
    return data, sync_fd


def _child(sock: _socket.socket, raw: bytes, sync_fd: int) -> None:
    """In the forked child: become the monitor of directory ``raw``; never return into the
    zygote's loop."""
    status = 1
    try:
        sock.close()
        gc.enable()
        status = main.run_detached(os.fsdecode(raw), sync_fd, prepared=True)
    finally:
        os._exit(status)


def _warm_up() -> None:
    """``warmup.warm_up`` in a scratch directory; a failure only costs memory, so it is not fatal."""
    scratch = os.path.join(os.environ.get("TMPDIR", "/tmp"), f".dockyard-zygote-{os.getpid()}")
    try:
        os.mkdir(scratch, 0o700)
        try:
            warmup.warm_up(scratch)
        finally:
            for name in os.listdir(scratch):
                os.unlink(os.path.join(scratch, name))
            os.rmdir(scratch)
    except Exception:
        pass


def _offer_to_ksm() -> None:
    """Mark this process's private writable mappings mergeable (madvise(2) MADV_MERGEABLE):
    where the host runs ksmd, the pages monitors wrote back to what they were, or identically
    to each other, are merged again. Per mapping rather than per process (prctl(2)
    PR_SET_MEMORY_MERGE): that setting passes through ``execve`` to the runtimes and to the
    containers' processes, whose memory is not ours to offer. Monitors inherit the marks with
    the mappings; without ksmd they do nothing. Errors are ignored: it is only an offer."""
    madvise = _madvise
    with open("/proc/self/maps") as maps:
        lines = maps.read().splitlines()
    for line in lines:
        fields = line.split()
        private_writable = fields[1][1] == "w" and fields[1][3] == "p"
        special = len(fields) > 5 and fields[5].startswith("[") and fields[5] != "[heap]"
        if private_writable and not special:
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            madvise(start, end - start, MADV_MERGEABLE)


def serve(fd: int) -> None:
    """Serve fork requests on socket ``fd`` until its peer closes it."""
    sock = _socket.socket(fileno=fd)
    sock.setblocking(True)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # the daemon's Ctrl-C: wait for EOF instead
    main.settle()  # once for every monitor: run_detached(prepared=True)
    _warm_up()
    _offer_to_ksm()
    gc.collect()
    ballast.fill()  # last: anything allocated and freed after it leaves holes again
    gc.disable()  # the loop makes no cycles; each child enables collection again
    while True:
        request = _receive(sock)
        if request is None:
            return
        raw, sync_fd = request
        if not raw:
            continue
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _child(sock, raw, sync_fd)
        if sync_fd >= 0:
            os.close(sync_fd)
        os.waitpid(pid, 0)  # it exits as soon as the monitor has detached
