"""``dockyardd``'s flags, configuration checks, root lock, and a whole serve/shutdown cycle.

The engine is replaced by the FakeEngine (``Engine.open`` patched), so start-up, serving and
graceful shutdown run here without root; the real daemon is exercised in tests/e2e/api.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard import daemon
from dockyard.config import DaemonConfig
from dockyard.errors import InvalidArgument, SystemFailure
from tests.support.fakes import FakeEngine
from tests.unit.api.conftest import UnixHTTPConnection


def _config(*argv: str) -> DaemonConfig:
    return daemon.config_from_args(daemon.build_parser().parse_args(list(argv)))


def test_defaults_follow_dockerd() -> None:
    config = _config()
    assert config.hosts == ("unix:///run/dockyard.sock",)
    assert config.data_root == Path("/var/lib/dockyard")
    assert config.exec_root == Path("/run/dockyard")
    assert config.pidfile == Path("/run/dockyard/dockyardd.pid")
    assert config.default_runtime == "dockyard-runtime"
    assert config.socket_group == "docker"
    assert config.log_level == "info"


def test_flags_build_the_config(tmp_path: Path) -> None:
    config = _config(
        "-H", f"unix://{tmp_path}/a.sock", "-H", "tcp://127.0.0.1:2375",
        "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"),
        "--pidfile", str(tmp_path / "d.pid"), "--insecure-registry", "127.0.0.1:5000",
        "--registry-mirror", "https://mirror.example", "--cgroup-parent", "/dyt-x", "-D",
        "--add-runtime", "mine=/bin/true", "--default-runtime", "mine",
    )  # fmt: skip
    assert config.hosts == (f"unix://{tmp_path}/a.sock", "tcp://127.0.0.1:2375")
    assert config.pidfile == tmp_path / "d.pid"
    assert config.cgroup_parent == "/dyt-x"
    assert config.insecure_registries == ("127.0.0.1:5000",)
    assert config.registry_mirrors == ("https://mirror.example",)
    assert config.log_level == "debug"
    assert config.default_runtime == "mine"
    assert any(r.name == "mine" and r.path == "/bin/true" for r in config.runtimes)


def test_plain_tcp_beyond_loopback_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="without --tlsverify"):
        _config("-H", "tcp://0.0.0.0:2375")
    with pytest.raises(InvalidArgument, match="without --tlsverify"):
        _config("-H", "tcp://10.1.2.3:2376", "--tls", "--tlscert", "c", "--tlskey", "k")


def test_tls_flags_must_be_complete() -> None:
    with pytest.raises(InvalidArgument, match="--tlscacert"):
        _config("-H", "tcp://0.0.0.0:2376", "--tlsverify", "--tlscert", "c", "--tlskey", "k")
    with pytest.raises(InvalidArgument, match="--tlscert and --tlskey"):
        _config("--tls")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--default-runtime", "nosuch"], "default runtime 'nosuch' not found"),
        (["--add-runtime", "broken"], "expected NAME=PATH"),
        (["--add-runtime", "x=/no/such/program", "--default-runtime", "x"], "is not an executable program"),
        (["-H", "ftp://host"], "invalid bind address format"),
    ],
)
def test_bad_flags_have_clear_errors(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _config(*argv)


def test_root_lock_allows_one_daemon_per_data_root(tmp_path: Path) -> None:
    config = DaemonConfig(
        data_root=tmp_path / "data", exec_root=tmp_path / "exec", pidfile=tmp_path / "d.pid"
    )
    first = daemon.RootLock(config)
    first.acquire()
    try:
        assert (tmp_path / "d.pid").read_text() == f"{os.getpid()}\n"
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o710
        assert stat.S_IMODE((tmp_path / "exec").stat().st_mode) == 0o700
        second = daemon.RootLock(config)
        with pytest.raises(
            SystemFailure, match=f"another dockyardd \\(pid {os.getpid()}\\) is using data root"
        ):
            second.acquire()
        second.release()
        assert (tmp_path / "d.pid").exists()  # the loser never removes the winner's pid file
    finally:
        first.release()
    assert not (tmp_path / "d.pid").exists()
    third = daemon.RootLock(config)
    third.acquire()
    third.release()


def test_log_lines_are_logfmt(capsys: pytest.CaptureFixture[str]) -> None:
    formatter = daemon._LogfmtFormatter()
    record = logging.LogRecord("dockyard.x", logging.INFO, __file__, 1, "started id=%s", ("abc",), None)
    line = formatter.format(record)
    assert line.startswith("time=")
    assert " level=info logger=dockyard.x started id=abc" in line


class _PatchedEngine:
    """Stands in for ``dockyard.engine.Engine``: ``open`` gives a FakeEngine."""

    @classmethod
    async def open(cls, config: DaemonConfig) -> FakeEngine:
        engine = FakeEngine()
        engine.images.add("alpine")
        return engine


def _ping(path: str) -> int:
    conn = UnixHTTPConnection(path, timeout=5)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status
    finally:
        conn.close()


def test_serve_and_shut_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dockyard.engine

    monkeypatch.setattr(dockyard.engine, "Engine", _PatchedEngine)
    sock_path = str(tmp_path / "d.sock")
    config = DaemonConfig(
        hosts=(f"unix://{sock_path}",),
        data_root=tmp_path / "data",
        exec_root=tmp_path / "exec",
        pidfile=tmp_path / "d.pid",
        socket_group="",
        shutdown_timeout=2.0,
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(daemon.run_daemon(config, stop=stop))
        for _ in range(200):
            if os.path.exists(sock_path) and stat.S_IMODE(os.stat(sock_path).st_mode) == 0o660:
                try:
                    if await asyncio.to_thread(_ping, sock_path) == 200:
                        break
                except OSError:
                    pass
            await asyncio.sleep(0.02)
        assert await asyncio.to_thread(_ping, sock_path) == 200
        assert (tmp_path / "d.pid").exists()
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert not os.path.exists(sock_path)
    assert not (tmp_path / "d.pid").exists()


def test_socket_in_use_is_a_startup_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import dockyard.engine

    monkeypatch.setattr(dockyard.engine, "Engine", _PatchedEngine)
    sock_path = str(tmp_path / "busy.sock")
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.bind(sock_path)
    holder.listen(1)
    config = DaemonConfig(
        hosts=(f"unix://{sock_path}",),
        data_root=tmp_path / "data",
        exec_root=tmp_path / "exec",
        socket_group="",
    )
    try:
        with pytest.raises(SystemFailure, match="address already in use"):
            asyncio.run(daemon.run_daemon(config, stop=asyncio.Event()))
    finally:
        holder.close()
    assert os.path.exists(sock_path)  # someone else's socket is left alone


def test_main_refuses_non_root(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    try:
        assert daemon.main([]) == 1
    finally:
        root.handlers[:], root.level = saved


def test_open_files_limit_is_raised_to_the_hard_limit_only() -> None:
    import resource

    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        hard = saved[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        daemon.raise_open_files_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


_LARGE_BLOCK_STAYS_MAPPED = r"""
import ctypes, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    from dockyard import daemon
    daemon.keep_the_heap_small()
libc.free(libc.malloc(600 * 1024))  # glibc's dynamic threshold rises past this size here
block = libc.malloc(600 * 1024)
print(libc.mallinfo2().hblkhd >= 600 * 1024)
libc.free(block)
"""


@pytest.mark.parametrize(("mode", "mapped"), [("fixed", "True"), ("default", "False")])
def test_large_blocks_stay_out_of_the_heap(mode: str, mapped: str) -> None:
    """After ``keep_the_heap_small`` a large block is still mmapped (so freeing it returns it to
    the system) after one like it was freed; glibc's default would serve it from the heap. The
    ``default`` case shows the test can tell the two apart. A child process: the test runner's
    own allocator is left alone."""
    done = subprocess.run(
        [sys.executable, "-c", _LARGE_BLOCK_STAYS_MAPPED, mode], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == mapped
