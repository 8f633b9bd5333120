"""``dockyardd``: flags, logging, pid file and signals; builds the Engine and serves the API.

Start-up, in order, each step failing with one clear line and exit status 1:

1. Flags become a ``DaemonConfig`` (dockerd's flag names where dockerd has them). Every ``-H``
   is parsed and checked first: plain TCP on a non-loopback address is refused here, before
   anything is created.
2. The data and exec roots are created (0710 and 0700: a container's files are nobody else's
   business, CVE-2021-41091) and an exclusive ``flock`` on the data root's lock file makes this
   the only daemon for that root. The pid file is written.
3. The sockets are bound with their final permissions but do not listen yet (a socket still
   answered by another daemon is an error), then the engine opens (recovering containers).
4. The server starts listening; the daemon logs ``daemon ready`` with its addresses.

**Shutdown** on SIGTERM or SIGINT: stop accepting, let in-flight requests finish within
``--shutdown-timeout`` seconds, close the engine (containers keep running: their monitors
outlive us), remove the pid file and the sockets. A second signal skips the grace period.

Logging is ``logfmt``-like (``time=... level=info logger=... msg``), one line per event, with the
``key=value`` context the rooms put in their messages.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard import __version__
from dockyard.api import (
    ApiServer,
    Endpoint,
    TlsFiles,
    bind_tcp,
    bind_unix,
    build_router,
    parse_host,
    tls_context,
)
from dockyard.config import DEFAULT_HOST, DaemonConfig, Paths, RuntimeEntry, find_program
from dockyard.errors import DockyardError, InvalidArgument, SystemFailure

if TYPE_CHECKING:
    import ssl

__all__ = ["build_parser", "config_from_args", "main", "resolve_runtimes", "run_daemon"]

log = logging.getLogger("dockyard.daemon")

BUILTIN_RUNTIMES = ("dockyard-runtime", "runc", "crun")
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
LOG_LEVELS["fatal"] = logging.CRITICAL


def build_parser() -> argparse.ArgumentParser:
    """dockerd's flags, where dockerd has them."""
    parser = argparse.ArgumentParser(
        prog="dockyardd", description="A container engine that speaks the Docker API."
    )
    add = parser.add_argument
    add(
        "-H",
        "--host",
        action="append",
        default=[],
        help=f"daemon socket(s) to listen on (default {DEFAULT_HOST})",
    )
    add("--data-root", default="/var/lib/dockyard", help="root of persistent state")
    add("--exec-root", default="/run/dockyard", help="root of per-boot state")
    add("--pidfile", default=None, help="path of the pid file (default <exec-root>/dockyardd.pid)")
    add("-G", "--group", default="docker", help="group owning the unix socket")
    add("--default-runtime", default="dockyard-runtime", help="OCI runtime for containers")
    add("--add-runtime", action="append", default=[], metavar="NAME=PATH", help="register an OCI runtime")
    add("--insecure-registry", action="append", default=[], help="registry reachable over plain HTTP")
    add("--registry-mirror", action="append", default=[], help="Docker Hub mirror")
    add("-l", "--log-level", default="info", choices=sorted(LOG_LEVELS), help="logging level")
    add("-D", "--debug", action="store_true", help="debug logging")
    add("--cgroup-parent", default="/dockyard", help="parent cgroup of every container")
    add("--label", action="append", default=[], help="daemon label (key=value)")
    add("--shutdown-timeout", type=float, default=15.0, help="seconds for in-flight requests at shutdown")
    add("--tls", action="store_true", help="use TLS (implied by --tlsverify)")
    add("--tlsverify", action="store_true", help="use TLS and require client certificates from --tlscacert")
    add("--tlscacert", default=None, help="CA that signs client certificates")
    add("--tlscert", default=None, help="server certificate")
    add("--tlskey", default=None, help="server key")
    add("-v", "--version", action="version", version=f"dockyardd version {__version__}")
    return parser


def resolve_runtimes(default: str, added: Sequence[str]) -> tuple[RuntimeEntry, ...]:
    """The runtimes this daemon may use: the built-in ones found on this host, then ``--add-runtime``.

    Raises:
        InvalidArgument: a malformed ``--add-runtime``, a name used twice, or a default runtime
            that is neither built in nor added, or whose program cannot be found.
    """
    entries: dict[str, RuntimeEntry] = {}
    for name in BUILTIN_RUNTIMES:
        path = find_program(name)
        if path is not None:
            entries[name] = RuntimeEntry(name=name, path=path)
    for spec in added:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InvalidArgument(f"invalid --add-runtime {spec!r}: expected NAME=PATH")
        if name in entries and name not in BUILTIN_RUNTIMES:
            raise InvalidArgument(f"runtime name {name!r} is already registered")
        entries[name] = RuntimeEntry(name=name, path=path)
    chosen = entries.get(default)
    if chosen is None:
        known = ", ".join(sorted(entries)) or "none"
        raise InvalidArgument(f"default runtime {default!r} not found (known runtimes: {known})")
    resolved = chosen.path if os.sep in chosen.path else shutil.which(chosen.path)
    if resolved is None or not os.access(resolved, os.X_OK):
        raise InvalidArgument(f"default runtime {default!r}: {chosen.path} is not an executable program")
    return tuple(entries.values())


def config_from_args(args: argparse.Namespace) -> DaemonConfig:
    """Check the parsed flags and build the daemon's configuration.

    Raises:
        InvalidArgument: an unusable flag combination (bad ``-H``, TLS files missing, plain
            TCP on a non-loopback address, unknown default runtime).
    """
    tls = bool(args.tls or args.tlsverify)
    hosts = tuple(args.host) or (DEFAULT_HOST,)
    for host in hosts:
        endpoint = parse_host(host, tls=tls)
        if endpoint.scheme == "tcp" and not args.tlsverify and not endpoint.is_loopback:
            raise InvalidArgument(
                f"refusing to listen on {endpoint} without --tlsverify: API access is root access"
            )
    if tls and not (args.tlscert and args.tlskey):
        raise InvalidArgument("--tls and --tlsverify need --tlscert and --tlskey")
    if args.tlsverify and not args.tlscacert:
        raise InvalidArgument("--tlsverify needs --tlscacert")
    exec_root = Path(args.exec_root)
    paths = Paths(data_root=Path(args.data_root), exec_root=exec_root)
    return DaemonConfig(
        hosts=hosts,
        data_root=Path(args.data_root),
        exec_root=exec_root,
        pidfile=Path(args.pidfile) if args.pidfile else paths.default_pidfile,
        default_runtime=args.default_runtime,
        runtimes=resolve_runtimes(args.default_runtime, args.add_runtime),
        insecure_registries=tuple(args.insecure_registry),
        registry_mirrors=tuple(args.registry_mirror),
        cgroup_parent=args.cgroup_parent,
        log_level="debug" if args.debug else args.log_level,
        socket_group=args.group,
        shutdown_timeout=args.shutdown_timeout,
        tls=tls,
        tls_verify=bool(args.tlsverify),
        tls_ca=Path(args.tlscacert) if args.tlscacert else None,
        tls_cert=Path(args.tlscert) if args.tlscert else None,
        tls_key=Path(args.tlskey) if args.tlskey else None,
        labels=tuple(args.label),
    )


class _LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"time={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} logger={record.name} "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str) -> None:
    """One handler on stderr, ``logfmt``-like lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LOG_LEVELS.get(level, logging.INFO))


class RootLock:
    """The data root's exclusive lock and the pid file: one daemon per data root.

    The lock is an ``flock`` held for the daemon's life (the kernel drops it when the process
    dies, so a SIGKILLed daemon never blocks its successor); the pid file names the holder.
    """

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self._fd = -1
        self._wrote_pidfile = False

    def acquire(self) -> None:
        """Create the roots, take the lock, write the pid file.

        Raises:
            SystemFailure: another daemon holds the data root, or a root cannot be created.
        """
        config = self.config
        try:
            config.data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
            config.exec_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SystemFailure(f"cannot create {exc.filename}: {exc.strerror}") from exc
        lock_path = config.paths.daemon_lock
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = -1
            raise SystemFailure(
                f"another dockyardd (pid {holder}) is using data root {config.data_root}"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        if config.pidfile is not None:
            config.pidfile.parent.mkdir(parents=True, exist_ok=True)
            config.pidfile.write_text(f"{os.getpid()}\n")
            self._wrote_pidfile = True

    def release(self) -> None:
        """Remove the pid file (if this daemon wrote it) and drop the lock."""
        if self._wrote_pidfile and self.config.pidfile is not None:
            self._wrote_pidfile = False
            try:
                self.config.pidfile.unlink()
            except FileNotFoundError:
                pass
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _bind_all(config: DaemonConfig) -> list[tuple[socket.socket, ssl.SSLContext | None, Endpoint]]:
    files = None
    context = None
    if config.tls and config.tls_cert is not None and config.tls_key is not None:
        files = TlsFiles(ca=config.tls_ca, cert=config.tls_cert, key=config.tls_key, verify=config.tls_verify)
        context = tls_context(files)
    bound: list[tuple[socket.socket, ssl.SSLContext | None, Endpoint]] = []
    try:
        for host in config.hosts:
            endpoint = parse_host(host, tls=config.tls)
            if endpoint.scheme == "unix":
                bound.append((bind_unix(endpoint.path, group=config.socket_group), None, endpoint))
            else:
                bound.append((bind_tcp(endpoint, tls=files), context, endpoint))
    except BaseException:
        _discard(bound)
        raise
    return bound


def _discard(bound: list[tuple[socket.socket, ssl.SSLContext | None, Endpoint]]) -> None:
    """Close sockets that never served, removing unix socket files."""
    for sock, _, endpoint in bound:
        sock.close()
        if endpoint.scheme == "unix":
            try:
                os.unlink(endpoint.path)
            except FileNotFoundError:
                pass


async def _serve(
    config: DaemonConfig,
    server: ApiServer,
    bound: list[tuple[socket.socket, ssl.SSLContext | None, Endpoint]],
    stop: asyncio.Event,
    force: asyncio.Event,
) -> None:
    """Listen on every socket until ``stop``; then close, cutting the grace short on ``force``."""
    try:
        for sock, context, _ in bound:
            await server.serve(sock, ssl_context=context)
    except BaseException:
        await server.close(grace=0.0)
        _discard(bound)
        raise
    log.info("daemon ready version=%s hosts=%s", __version__, ",".join(str(e) for _, _, e in bound))
    await stop.wait()
    log.info("shutting down grace=%.1fs", config.shutdown_timeout)
    closing = asyncio.ensure_future(server.close(grace=0.0 if force.is_set() else config.shutdown_timeout))
    forced = asyncio.ensure_future(force.wait())
    await asyncio.wait({closing, forced}, return_when=asyncio.FIRST_COMPLETED)
    forced.cancel()
    if not closing.done():
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        await server.close(grace=0.0)


async def run_daemon(config: DaemonConfig, *, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT), then shut down gracefully.

    Raises:
        DockyardError: start-up failed (the message says why); nothing is left listening.
    """
    from dockyard.engine import Engine  # the engine's import closure is the daemon's bulk

    stop = stop or asyncio.Event()
    force = asyncio.Event()
    lock = RootLock(config)
    _install_signals(stop, force)
    try:
        lock.acquire()
        bound = _bind_all(config)
        try:
            engine = await Engine.open(config)
        except BaseException:
            _discard(bound)
            raise
        try:
            await _serve(
                config, ApiServer(engine, build_router(), server_version=__version__), bound, stop, force
            )
        finally:
            await engine.close()
    finally:
        lock.release()
        _remove_signals()
    log.info("daemon stopped")


def _install_signals(stop: asyncio.Event, force: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("second %s: not waiting for in-flight requests", name)
            force.set()
        else:
            log.info("received %s", name)
            stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGHUP, log.info, "received SIGHUP: configuration reload is not supported")


def _remove_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(signum)


def raise_open_files_limit() -> None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit, as dockerd does.

    Every client connection, attach stream and monitor socket is a descriptor, and the usual soft
    limit of 1024 is reached by a few hundred idle clients. The hard limit is never exceeded
    (raising it needs CAP_SYS_RESOURCE, which root lacks on some hosts).
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.debug("raised open files limit soft=%d hard=%d", hard, hard)


def keep_the_heap_small() -> None:
    """Fix glibc's malloc thresholds so that memory a pull used goes back to the system.

    glibc raises its mmap threshold each time a large mmapped block is freed, up to 32 MiB; after
    the first pull (megabyte chunks read, hashed and decompressed in threads) such buffers come
    from the heap and per-thread arenas and stay there. Measured here: an idle daemon at 37 MiB
    PSS kept 12 MiB more after one 4-layer pull, and nothing more with this. A fixed threshold
    (which also turns the dynamic one off) sends large blocks to mmap, freed for real, and trims
    the heap past 1 MiB; two arenas bound what the worker threads keep.
    """
    from dockyard.util import libc

    for param, value in (
        (libc.M_MMAP_THRESHOLD, 256 * 1024),
        (libc.M_TRIM_THRESHOLD, 1024 * 1024),
        (libc.M_ARENA_MAX, 2),
    ):
        if not libc.mallopt(param, value):
            log.debug("mallopt(%d, %d) refused", param, value)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``dockyardd`` entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging("debug" if args.debug else args.log_level)
    if os.geteuid() != 0:
        log.error("dockyardd needs to be started with root privileges")
        return 1
    raise_open_files_limit()
    keep_the_heap_small()
    try:
        config = config_from_args(args)
        asyncio.run(run_daemon(config))
    except DockyardError as exc:
        log.error("start-up failed: %s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
