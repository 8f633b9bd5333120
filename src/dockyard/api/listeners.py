"""Listening sockets for the API: ``unix://`` with root-only permissions, ``tcp://`` with mutual TLS.

API access is root access (anyone who can create a container can bind-mount ``/``), so the
sockets are made the way moby's go-connections makes them (reliability-security.md §3.1):

- **unix**: ``bind``, then ``chmod 0`` so nobody can connect, ``chown root:<group>``, ``chmod
  0660``, and only then ``listen`` (asyncio calls ``listen`` when it starts serving the socket).
  The group is ``docker`` by default; if that group does not exist the daemon warns and uses
  root's primary group, but a group named explicitly (``--group``) that does not exist is a
  start-up error. A socket file that another process still answers on is a start-up error (a
  second daemon); a stale one is removed.
- **tcp**: mutual TLS with ``--tlsverify``: TLS 1.2 or newer, client certificates required and
  verified against the given CA only (not the system store; moby's ``ExclusiveRootPools``).
  Plain TCP is refused unless the address is loopback, where it is allowed with a loud warning
  (tests and benchmarks use it); anyone on the network could otherwise drive the daemon.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, SystemFailure

if TYPE_CHECKING:
    import ssl

__all__ = ["Endpoint", "TlsFiles", "bind_tcp", "bind_unix", "parse_host", "tls_context"]

log = logging.getLogger(__name__)

DEFAULT_GROUP = "docker"
DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376
BACKLOG = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A parsed ``-H`` value: ``unix`` with a path, or ``tcp`` with a host and port."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True for a TCP address only this machine can reach."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    """``--tlscacert``, ``--tlscert``, ``--tlskey`` and whether clients must present a cert."""

    ca: Path | None
    cert: Path
    key: Path
    verify: bool


def parse_host(value: str, *, tls: bool = False) -> Endpoint:
    """Parse a ``-H`` value as dockerd does (``unix:///path``, ``tcp://host:port``, ``fd://`` no).

    A bare path is a unix socket; ``tcp://host`` without a port uses 2375, or 2376 with TLS.

    Raises:
        InvalidArgument: an unknown scheme, an empty path, or a bad port.
    """
    value = value.strip()
    if value.startswith("/"):
        value = "unix://" + value
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "tcp", value
    if scheme == "unix":
        if not rest:
            raise InvalidArgument(f"invalid host {value!r}: empty unix socket path")
        return Endpoint(scheme="unix", path=rest)
    if scheme != "tcp":
        raise InvalidArgument(f"invalid bind address format: {value}")
    rest = rest.rstrip("/")
    host, port_text = _split_host_port(rest)
    default_port = DEFAULT_TLS_PORT if tls else DEFAULT_TCP_PORT
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise InvalidArgument(f"invalid bind address format: {value}") from None
    if not 0 <= port <= 65535:
        raise InvalidArgument(f"invalid bind address format: {value}")
    return Endpoint(scheme="tcp", host=host or "127.0.0.1", port=port)


def _split_host_port(text: str) -> tuple[str, str]:
    if text.startswith("["):
        host, _, after = text[1:].partition("]")
        return host, after.removeprefix(":")
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""


def _socket_gid(group: str) -> int | None:
    """The gid for the socket; None to leave the file's group alone (non-root test daemons).

    Raises:
        InvalidArgument: an explicitly named group (not ``docker``) does not exist.
    """
    if group == "":
        return None
    import grp  # the daemon only: never called inside a container's root (NSS, §6)

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    if group != DEFAULT_GROUP:
        raise InvalidArgument(f"group {group} not found")
    gid = os.getgid()
    log.warning("socket group %s not found; using the daemon's primary group gid=%d", group, gid)
    return gid


def _remove_stale(path: str) -> None:
    """Remove a socket file nobody answers on; refuse if a live server holds it.

    Raises:
        SystemFailure: the path exists and is not a socket, or a server is listening on it.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SystemFailure(f"cannot listen on {path}: the path exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise SystemFailure(f"cannot listen on {path}: {exc.strerror}") from exc
    else:
        raise SystemFailure(f"cannot listen on {path}: address already in use (is another daemon running?)")
    finally:
        probe.close()
    os.unlink(path)


def bind_unix(path: str, *, group: str = DEFAULT_GROUP) -> socket.socket:
    """A bound, not yet listening, unix socket at ``path``, mode 0660 owned by root:``group``.

    ``group=""`` keeps the process's own group (unprivileged test daemons cannot chown).

    Raises:
        InvalidArgument: the group was named explicitly and does not exist.
        SystemFailure: the path is taken, too long, or the directory cannot be created.
    """
    gid = _socket_gid(group)
    if len(os.fsencode(path)) > 107:
        raise SystemFailure(f"cannot listen on {path}: unix socket path longer than 107 bytes")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Nobody may connect between bind and the final mode: go-connections' order.
        os.chmod(path, 0)
        if gid is not None:
            os.chown(path, os.geteuid(), gid)
        os.chmod(path, 0o660)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise SystemFailure(f"cannot listen on {path}: {exc.strerror or exc}") from exc
    return sock


def bind_tcp(endpoint: Endpoint, *, tls: TlsFiles | None) -> socket.socket:
    """A bound, not yet listening, TCP socket for ``endpoint``.

    Raises:
        InvalidArgument: plain TCP on a non-loopback address, or ``--tlsverify`` without a CA.
        SystemFailure: the address is in use or cannot be bound.
    """
    if tls is None or not tls.verify:
        if not endpoint.is_loopback:
            raise InvalidArgument(
                f"refusing to listen on {endpoint} without --tlsverify: API access is root access"
            )
        if tls is None:
            log.warning(
                "listening on %s without TLS: any local user can drive the daemon; use only for tests",
                endpoint,
            )
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((endpoint.host, endpoint.port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise SystemFailure(f"cannot listen on {endpoint}: {exc.strerror or exc}") from exc
    return sock


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """The server side of Docker's TLS: 1.2+, and with ``verify`` only certs from ``files.ca``.

    Raises:
        InvalidArgument: ``verify`` without a CA file.
        SystemFailure: a certificate or key file cannot be read or does not match.
    """
    import ssl

    if files.verify and files.ca is None:
        raise InvalidArgument("--tlsverify needs --tlscacert")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.verify:
            # Only the given CA: a fresh context has no default roots loaded.
            context.load_verify_locations(cafile=str(files.ca))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise SystemFailure(f"could not load TLS files: {exc}") from exc
    return context
