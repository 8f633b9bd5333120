"""Benchmark: dockyardd against a reference dockerd, driven by the same ``docker`` CLI (issue #3).

Engines, all started by this script, all alive at once and measured interleaved (each iteration
visits every engine, in an order that rotates):

- ``dockyard``: ``dockyardd`` with its default runtime (``dockyard-runtime``);
- ``dockerd-none``: Debian's dockerd 20.10 with ``--bridge=none``: containers get a network
  namespace with loopback only, which is what dockyard gives them today, so this is the
  like-for-like peer;
- ``dockerd-bridge``: the same dockerd with its default bridge networking (``docker0``, veth pairs,
  iptables NAT): the configuration issue #3's reference figures were taken with;
- ``dockyard-runc`` (``--with-runc``): dockyardd with ``--default-runtime runc``, which separates
  the engine's cost from the runtime's.

Everything runs inside a throwaway network namespace (``dyt-bench-<hex>``): dockerd's bridge,
veths and iptables rules stay there, and a private ``docker-registry`` on that namespace's
127.0.0.1 serves the fixture images (``tests.support.registry``) to every engine. The namespace is
entered with ``nsenter --net`` (not ``ip netns exec``, which remounts /sys and hides the cgroup
mounts dockerd needs): this script re-executes itself inside it, and the outer process cleans up
whatever the inner one left (processes in the namespace, mounts and directories under the
scratch directory, ``dyt-bench-*`` cgroups, the namespace), even when the inner one crashed.

Measured (medians and p90 of the samples, and each median's ratio to both dockerds):
``run --rm busybox true``; 20 concurrent ``run --rm`` (containers per second); ``run -d``;
``exec true``; ``ps -a`` and a raw ``GET /containers/json?all=1`` with 20 running containers;
``kill``; the engine's memory per running container (PSS of the engine's whole process tree
except the containers' own processes, with 10 idle ``sleep`` containers, minus the same with none,
divided by 10: containerd's shims for dockerd, the monitors for dockyard); the daemon's idle PSS
(dockerd + its containerd; dockyardd + its monitor zygote), fresh and after the run; and the cold
pull of ``dockyard/big`` (4 layers, ~10,000 files, the image and every layer removed before each
pull).

Run as root: ``.venv/bin/python bench/engine_vs_dockerd.py [--quick] [--with-runc]``. Writes
``bench/results/engine_vs_dockerd-<time>.{json,md}`` (gitignored) and prints the table.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import ctypes
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
CGROUPS = Path("/sys/fs/cgroup")
RESULTS = ROOT / "bench" / "results"
MNT_DETACH = 2
KIB_PER_MIB = 1024


# --- processes and memory ------------------------------------------------------------------------


def _proc_text(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text(errors="replace")
    except OSError:
        return ""


def _pss_kib(pid: int) -> int:
    for line in _proc_text(pid, "smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent(pid: int) -> int:
    text = _proc_text(pid, "stat")
    return int(text.rsplit(")", 1)[1].split()[1]) if text else 0


def _refers_to(pid: int, root: str) -> bool:
    """Whether ``pid`` names a path under directory ``root`` in its argv or has one open."""
    inside = root.rstrip("/") + "/"  # not a sibling that shares the prefix (dockyard, dockyard-runc)
    if inside in _proc_text(pid, "cmdline").replace("\0", " "):
        return True
    try:
        return any(os.readlink(fd).startswith(inside) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _in_cgroup(pid: int, parent: str) -> bool:
    return any(
        line.split(":", 2)[2].startswith(parent + "/") for line in _proc_text(pid, "cgroup").splitlines()
    )


# --- engines -------------------------------------------------------------------------------------


@dataclass
class Engine:
    """One daemon: how to start it, its socket, and which processes are its own."""

    name: str
    root: Path
    argv: list[str]
    cgroup_parent: str
    process: subprocess.Popen[bytes] | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> str:
        return str(self.root / "engine.sock")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = f"unix://{self.socket}"
        env["DOCKER_CONFIG"] = str(self.root / "client")
        return env

    def start(self, timeout: float = 60) -> None:
        (self.root / "client").mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.log", "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "daemon.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if get(self.socket, "/_ping")[0] == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {timeout}s")

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        done = subprocess.run(
            [DOCKER, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def tree_pss_kib(self) -> int:
        """PSS of the engine's processes: the daemon's descendants and whatever uses its roots,
        not the containers' own processes (they are in the engine's cgroup parent)."""
        assert self.process is not None
        root = str(self.root)
        pids = _pids()
        children: dict[int, list[int]] = {}
        for pid in pids:
            children.setdefault(_parent(pid), []).append(pid)
        ours = {self.process.pid}
        stack = [self.process.pid]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in ours:
                    ours.add(child)
                    stack.append(child)
        ours |= {pid for pid in pids if _refers_to(pid, root)}
        return sum(_pss_kib(pid) for pid in ours if not _in_cgroup(pid, self.cgroup_parent))

    def stop(self) -> None:
        """Remove every container, then stop the daemon (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            ids = self.docker("ps", "-aq", timeout=60).split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=120)
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def dockyard_engine(scratch: Path, name: str, runtime: str) -> Engine:
    root = scratch / name
    cgroup = f"/{scratch.name}-{name}"  # dyt-bench-<tag>-<engine>: the outer process sweeps them
    program = str(Path(sys.executable).parent / "dockyardd")
    argv = [program, "-H", f"unix://{root}/engine.sock", "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "daemon.pid"),
            "--cgroup-parent", cgroup, "--default-runtime", runtime, "--log-level", "warn"]  # fmt: skip
    return Engine(name, root, argv, cgroup)


def dockerd_engine(scratch: Path, name: str, *, bridge: bool) -> Engine:
    root = scratch / name
    cgroup = f"/{scratch.name}-{name}"
    argv = [DOCKERD, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "-H", f"unix://{root}/engine.sock", "--pidfile", str(root / "daemon.pid"),
            "--cgroup-parent", cgroup, "--userland-proxy=false", "--log-level", "warn"]  # fmt: skip
    if not bridge:
        argv += ["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
    return Engine(name, root, argv, cgroup)


# --- measurements --------------------------------------------------------------------------------


def get(sock_path: str, path: str) -> tuple[int, bytes]:
    """One GET over the unix socket on a fresh connection."""
    connection = http.client.HTTPConnection("localhost", timeout=60)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sock_path)
        connection.sock = sock
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
        sock.close()


def timed(action: Callable[[], object]) -> float:
    """Milliseconds ``action`` took."""
    return timed_call(action)[0]


def timed_call(action: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds ``action`` took, and what it returned."""
    start = time.perf_counter()
    value = action()
    return (time.perf_counter() - start) * 1000, value


@dataclass
class Metric:
    """Samples per engine for one measurement; ``higher`` says whether more is better."""

    title: str
    unit: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    higher: bool = False

    def add(self, engine: str, value: float) -> None:
        self.samples.setdefault(engine, []).append(value)

    def median(self, engine: str) -> float | None:
        values = self.samples.get(engine)
        return statistics.median(values) if values else None

    def p90(self, engine: str) -> float | None:
        values = sorted(self.samples.get(engine, []))
        return values[min(len(values) - 1, int(0.9 * len(values)))] if values else None


def rotations(engines: list[Engine], rounds: int) -> Iterator[tuple[int, Engine]]:
    """``rounds`` passes over every engine, the starting engine rotating each pass."""
    for index in range(rounds):
        for offset in range(len(engines)):
            yield index, engines[(index + offset) % len(engines)]


def bench_run_rm(engines: list[Engine], rounds: int) -> Metric:
    metric = Metric("`run --rm busybox true`", "ms")
    for _, engine in rotations(engines, rounds):
        metric.add(engine.name, timed(partial(engine.docker, "run", "--rm", "busybox", "true")))
    return metric


def bench_concurrent(engines: list[Engine], rounds: int, width: int = 20) -> Metric:
    metric = Metric(f"{width} concurrent `run --rm`", "containers/s", higher=True)
    for _, engine in rotations(engines, rounds):
        start = time.perf_counter()
        runs = [
            subprocess.Popen([DOCKER, "run", "--rm", "busybox", "true"], env=engine.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(width)
        ]  # fmt: skip
        failures = [p.communicate()[1] for p in runs if p.wait(300) != 0]
        elapsed = time.perf_counter() - start
        if failures:
            raise RuntimeError(f"{engine.name}: {len(failures)} concurrent runs failed: {failures[0]!r}")
        metric.add(engine.name, width / elapsed)
    return metric


def bench_lifecycle(engines: list[Engine], rounds: int, count: int = 20) -> list[Metric]:
    """``run -d`` (count containers each), then with them running: exec, ps -a, raw list, kill."""
    run_d = Metric("`run -d busybox sleep`", "ms")
    exec_true = Metric("`exec <id> true`", "ms")
    ps = Metric(f"`ps -a` with {count} containers", "ms")
    raw = Metric(f"raw `GET /containers/json?all=1` with {count} containers", "ms")
    kill = Metric("`kill <id>`", "ms")
    ids: dict[str, list[str]] = {engine.name: [] for engine in engines}
    for _, engine in rotations(engines, count):
        spent, output = timed_call(partial(engine.docker, "run", "-d", "busybox", "sleep", "1000"))
        run_d.add(engine.name, spent)
        ids[engine.name].append(output.strip())
    for index, engine in rotations(engines, rounds):
        target = ids[engine.name][index % count]
        exec_true.add(engine.name, timed(partial(engine.docker, "exec", target, "true")))
        ps.add(engine.name, timed(partial(engine.docker, "ps", "-a")))
        for _ in range(5):
            raw.add(engine.name, timed(partial(get, engine.socket, "/v1.41/containers/json?all=1")))
    for index, engine in rotations(engines, count):
        target = ids[engine.name][index]
        kill.add(engine.name, timed(partial(engine.docker, "kill", target)))
    for engine in engines:
        engine.docker("rm", "-f", *ids[engine.name])
    return [run_d, exec_true, ps, raw, kill]


def settle(seconds: float = 2.0) -> None:
    time.sleep(seconds)


def bench_memory(engines: list[Engine], containers: int = 10) -> tuple[Metric, Metric]:
    """Engine PSS per running container, and the daemon's idle PSS (both in MiB)."""
    per_container = Metric(f"engine PSS per running container ({containers} idle `sleep`)", "MiB")
    idle = Metric("idle daemon PSS (after the run, no containers)", "MiB")
    for engine in engines:
        settle()
        before = engine.tree_pss_kib()
        idle.add(engine.name, before / KIB_PER_MIB)
        ids = [engine.docker("run", "-d", "busybox", "sleep", "1000").strip() for _ in range(containers)]
        settle()
        after = engine.tree_pss_kib()
        per_container.add(engine.name, (after - before) / containers / KIB_PER_MIB)
        engine.docker("rm", "-f", *ids)
    return per_container, idle


def bench_cold_pull(engines: list[Engine], registry: str, rounds: int) -> Metric:
    """Pull ``dockyard/big`` with no layer of it present (busybox, which shares one, removed)."""
    metric = Metric("cold pull of `dockyard/big` (4 layers, ~10k files)", "s")
    big = f"{registry}/dockyard/big"
    for engine in engines:
        engine.docker("rmi", "-f", "busybox", f"{registry}/library/busybox", check=False)
    for _, engine in rotations(engines, rounds):
        drop_kernel_caches()
        metric.add(engine.name, timed(partial(engine.docker, "pull", "-q", big)) / 1000)
        engine.docker("rmi", big)
    return metric


def drop_kernel_caches() -> None:
    """Start every pull from the same kernel state: written back, page and slab caches dropped.

    On this VM file creation slows as reclaimable slab grows (dentries and inodes of the layers
    pulled and removed before): the same pull took 1.3 s after a drop and 2.2, 2.6 and 3.6 s
    in the three pulls that followed, whatever the engine, so without a drop each engine's
    figure depended on how many pulls had run before it.
    """
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


# --- the run inside the namespace -----------------------------------------------------------------


def _versions(engine: Engine) -> dict[str, str]:
    answer = json.loads(get(engine.socket, "/version")[1])
    found = {"engine": str(answer.get("Version")), "api": str(answer.get("ApiVersion"))}
    for component in answer.get("Components") or []:
        found[str(component.get("Name"))] = str(component.get("Version"))
    return found


def _prepare(engine: Engine, registry: str) -> None:
    engine.docker("pull", "-q", f"{registry}/library/busybox")
    engine.docker("tag", f"{registry}/library/busybox", "busybox")
    engine.docker("run", "--rm", "busybox", "true")  # warm: first-run costs are not measured


def run_inside(args: argparse.Namespace) -> dict[str, Any]:
    """Start the registry and the engines, measure, stop them; the results as a document."""
    from tests.support.registry import _fill, open_registry

    scratch = Path(args.scratch)
    rounds, pulls = (3, 1) if args.quick else (args.rounds, args.pulls)
    engines = [
        dockyard_engine(scratch, "dockyard", "dockyard-runtime"),
        dockerd_engine(scratch, "dockerd-none", bridge=False),
        dockerd_engine(scratch, "dockerd-bridge", bridge=True),
    ]
    if args.with_runc:
        engines.insert(1, dockyard_engine(scratch, "dockyard-runc", "runc"))
    metrics: list[Metric] = []
    fresh = Metric("idle daemon PSS (fresh start, image pulled)", "MiB")
    with open_registry() as running:
        _fill(running)
        try:
            for engine in engines:
                engine.start()
                engine.versions = _versions(engine)
                _prepare(engine, running.host)
            settle()
            for engine in engines:
                fresh.add(engine.name, engine.tree_pss_kib() / KIB_PER_MIB)
            metrics.append(bench_run_rm(engines, rounds * 5 if not args.quick else rounds))
            metrics.append(bench_concurrent(engines, max(1, rounds // 3 * 2) if not args.quick else 1))
            metrics += bench_lifecycle(engines, rounds * 5 if not args.quick else rounds,
                                       count=20 if not args.quick else 5)  # fmt: skip
            per_container, idle = bench_memory(engines, 10 if not args.quick else 3)
            metrics += [per_container, fresh, idle]
            metrics.append(bench_cold_pull(engines, running.host, pulls))
        finally:
            for engine in engines:
                engine.stop()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": bool(args.quick),
        "machine": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "docker_client": subprocess.run(
                [DOCKER, "--version"], capture_output=True, text=True
            ).stdout.strip(),
            "load_average": os.getloadavg(),
        },
        "engines": {engine.name: {"argv": engine.argv, "versions": engine.versions} for engine in engines},
        "metrics": [
            {"title": m.title, "unit": m.unit, "higher_is_better": m.higher, "samples": m.samples}
            for m in metrics
        ],
    }


# --- the report ------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(document: dict[str, Any]) -> str:
    """Markdown: per metric, each engine's median and p90, and dockyard's ratio to both dockerds."""
    names = list(document["engines"])
    header = "| measurement | unit | " + " | ".join(f"{n} median (p90)" for n in names)
    header += " | dockyard / dockerd-none | dockyard / dockerd-bridge |"
    lines = [header, "|" + " --- |" * (len(names) + 4)]
    for entry in document["metrics"]:
        metric = Metric(entry["title"], entry["unit"], entry["samples"], entry["higher_is_better"])
        cells = [f"{_number(metric.median(n))} ({_number(metric.p90(n))})" for n in names]
        ours = metric.median("dockyard")
        ratios = []
        for peer in ("dockerd-none", "dockerd-bridge"):
            theirs = metric.median(peer)
            ratios.append(f"{ours / theirs:.2f}x" if ours is not None and theirs else "-")
        lines.append(
            f"| {metric.title} | {metric.unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |"
        )
    versions = "; ".join(f"{n}: " + ", ".join(f"{k} {v}" for k, v in e["versions"].items())
                         for n, e in document["engines"].items())  # fmt: skip
    machine = document["machine"]
    lines += [
        "",
        f"Versions: {versions}. Client: {machine['docker_client']}. Kernel {machine['kernel']}, "
        f"{machine['cpus']} CPUs, Python {machine['python']}, load average at the end "
        f"{', '.join(f'{x:.2f}' for x in machine['load_average'])}.",
    ]
    return "\n".join(lines) + "\n"


# --- the outer process: namespace, re-exec, cleanup ------------------------------------------------


def _kill_namespace_processes(netns: str) -> None:
    """SIGKILL every process whose network namespace is ours (daemons, shims, containers)."""
    try:
        ours = os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return
    for _ in range(5):
        found = False
        for pid in _pids():
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino == ours and pid != os.getpid():
                    os.kill(pid, signal.SIGKILL)
                    found = True
            except OSError:
                continue
        if not found:
            return
        time.sleep(0.3)


def _unmount_under(root: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(10):
        points = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4] == root or line.split()[4].startswith(root + "/")
        ]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            libc.umount2(point.encode(), MNT_DETACH)


def _remove_cgroups(prefix: str) -> None:
    for _ in range(30):
        left = [
            d
            for controller in CGROUPS.iterdir()
            if controller.is_dir()
            for d in controller.glob(prefix + "*")
        ]
        if not left:
            return
        for top in left:
            for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
        time.sleep(0.2)


def _kill_leftovers(scratch: Path) -> None:
    """SIGKILL what is in our cgroups (containers) or uses the scratch directory (shims, monitors)."""
    prefix = scratch.name
    for _ in range(5):
        victims = {pid for pid in _pids() if pid != os.getpid() and _refers_to(pid, str(scratch))}
        for controller in CGROUPS.iterdir():
            for procs in controller.glob(f"{prefix}*/**/cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    victims |= {int(line) for line in procs.read_text().split()}
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)


def cleanup(netns: str, scratch: Path) -> None:
    """Leave nothing: processes, mounts, cgroups, the namespace, the directory."""
    _kill_namespace_processes(netns)
    _kill_leftovers(scratch)
    _unmount_under(str(scratch))
    _remove_cgroups(scratch.name)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast sanity run (few samples)")
    parser.add_argument("--rounds", type=int, default=6, help="scales every sample count (default 6)")
    parser.add_argument("--pulls", type=int, default=3, help="cold pulls per engine (default 3)")
    parser.add_argument("--with-runc", action="store_true", help="also dockyardd with runc as its runtime")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        Path(args.out).write_text(json.dumps(run_inside(args), indent=1))
        return 0
    if os.geteuid() != 0:
        print("engine_vs_dockerd.py: run as root", file=sys.stderr)
        return 1
    compileall.compile_dir(str(ROOT / "src" / "dockyard"), quiet=1)  # see bench/README.md (runtime cycle)
    tag = secrets.token_hex(4)
    netns, scratch = f"dyt-bench-{tag}", Path(f"/tmp/dyt-bench-{tag}")
    scratch.mkdir(mode=0o711)
    out = scratch / "results.json"
    try:
        subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        inner = [sys.executable, str(Path(__file__).resolve()), "--inner", "--scratch", str(scratch),
                 "--out", str(out), "--rounds", str(args.rounds), "--pulls", str(args.pulls)]  # fmt: skip
        inner += ["--quick"] if args.quick else []
        inner += ["--with-runc"] if args.with_runc else []
        done = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", *inner], check=False)
        if done.returncode != 0 or not out.exists():
            print(f"engine_vs_dockerd.py: the measuring run failed ({done.returncode})", file=sys.stderr)
            return 1
        document = json.loads(out.read_text())
    finally:
        cleanup(netns, scratch)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = table(document)
    (RESULTS / f"engine_vs_dockerd-{stamp}.json").write_text(json.dumps(document, indent=1))
    (RESULTS / f"engine_vs_dockerd-{stamp}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
