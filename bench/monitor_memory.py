"""Benchmark: what an idle monitor costs beside a ``sleep`` container, against conmon and
containerd-shim-runc-v2, and how long spawning one takes.

Memory, for N = 1 and N = ``-n`` (default 10) containers at once, each running ``sleep``:

- dockyard's monitor through the zygote (the engine's default) and through the plain exec path,
  each with a pending ``wait`` request, as the engine holds a running container;
- conmon 2.1, started the way Podman starts it (``conmon --api-version 1 -c ID -u ID -r runc -b
  BUNDLE ... -l k8s-file:LOG``, then ``runc start``);
- containerd-shim-runc-v2, started by a private containerd (its own root, state and socket under
  the scratch directory) through ``ctr run --rootfs``, one shim per container as dockerd gets.

With ``--ksm``, dockyard's zygote path is measured once more at N with ksmd running (kernel
same-page merging, switched on for that run and restored after; the zygote opts its monitors
in, and ksmd scans nothing that did not opt in). A second table breaks one idle monitor's
memory down by kind (``CATEGORIES``: Python objects, malloc heap, interpreter statics, stack,
libraries' data), from ``/proc/<pid>/smaps``.

Figures are from ``/proc/<pid>/smaps_rollup``: PSS (shared pages split among their sharers),
private (pages no other process maps) and RSS, in KiB. "Marginal" is what the N containers add
to the engine's total PSS, divided by N: for dockyard the monitors plus the zygote's growth
(the zygote itself exists before any container, like dockerd or containerd); for containerd the
shims plus containerd's growth. That is the figure issue #2's target ("engine memory per running
container: at most 1 MiB PSS") speaks of.

Latency, interleaved zygote / exec / bare runc, ``--runs`` times (default 15): spawn until the
runtime's ``create`` is done and the monitor answers, then ``start``; bare runc is ``runc create``
plus ``runc start`` from here, for scale.

Everything lives under a ``dyt-bench-*`` scratch directory and cgroup parent and is removed at the
end; processes are stopped by pid. Run as root: ``.venv/bin/python bench/monitor_memory.py
[-n 10] [--runs 15] [--ksm]``.
Results go to ``bench/results/monitor_memory-<time>.json`` (gitignored) and a markdown table to
stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockyard.monitor import ExecLauncher, MonitorClient, MonitorConfig, Zygote  # noqa: E402
from tests.support.bundles import make_bundle  # noqa: E402

RUNC = "/usr/bin/runc"


def smaps(pid: int) -> dict[str, int]:
    """Pss, Private and Rss of one process in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    return {
        "pss": fields["Pss"],
        "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "rss": fields["Rss"],
    }


class Lab:
    """Scratch directory, cgroup parent, bundles; removes everything it made."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dyt-bench-"))
        self.name = self.base.name
        self.root = self.base / "runc-root"
        self.count = 0
        self.pids: list[int] = []

    def bundle(self) -> tuple[str, Path]:
        self.count += 1
        container_id = f"{self.name}-{self.count}"
        path = self.base / f"bundle-{self.count}"
        make_bundle(path, ["sleep", "100000"], cgroups_path=f"/{self.name}/{self.count}")
        return container_id, path

    def runc(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RUNC, "--root", str(self.root), *args], capture_output=True, text=True,
                              timeout=30, check=check)  # fmt: skip

    def create(self, container_id: str, bundle: Path) -> None:
        """``runc create`` with /dev/null stdio: the created process inherits runc's stdio, so
        captured pipes would never reach EOF."""
        argv = [RUNC, "--root", str(self.root), "create", "--bundle", str(bundle), container_id]
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30, check=True)  # fmt: skip

    def kill_containers(self) -> None:
        done = self.runc("list", "-q")
        for container_id in done.stdout.split():
            self.runc("kill", container_id, "KILL")
            self.runc("delete", "--force", container_id)

    def cleanup(self) -> None:
        self.kill_containers()
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for top in Path("/sys/fs/cgroup").iterdir():
            parent = top / self.name
            if not parent.is_dir():
                continue
            dirs = [
                *sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)),
                parent,
            ]
            for directory in dirs:
                self._empty(directory)
        shutil.rmtree(self.base, ignore_errors=True)

    @staticmethod
    def _empty(directory: Path) -> None:
        """Kill what is left in one of our cgroups (a half-created container), then remove it."""
        for _ in range(100):
            try:
                for pid in (directory / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
                directory.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


CATEGORIES = (
    ("python objects", "anonymous memory: obmalloc arenas (objects, code), the frame stack"),
    ("malloc heap", "[heap]: glibc malloc (objects over 512 bytes, buffers, locks)"),
    ("interpreter statics", "the python binary's .data and .bss (runtime state, type cache, small ints)"),
    ("C stack", "[stack]"),
    ("libraries' data", "rw pages of libc, ld.so, extension modules"),
)


def breakdown(pid: int) -> dict[str, dict[str, int]]:
    """Private and PSS KiB of one process by kind of memory (see CATEGORIES), from its smaps."""
    totals = {name: {"private": 0, "pss": 0} for name, _ in CATEGORIES}
    python_data_end = -1
    with open(f"/proc/{pid}/smaps") as file:
        lines = file.read().splitlines()
    kind = ""
    for line in lines:
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            writable = "w" in parts[1]
            if name == "[heap]":
                kind = "malloc heap"
            elif name == "[stack]":
                kind = "C stack"
            elif name.startswith("/") and writable and os.path.basename(name).startswith("python3"):
                kind, python_data_end = "interpreter statics", end
            elif not name and start == python_data_end:
                kind = "interpreter statics"  # .bss follows .data
            elif not name:
                kind = "python objects"
            elif name.startswith("/") and writable:
                kind = "libraries' data"
            else:
                kind = ""
        elif kind and parts and parts[0] in ("Private_Clean:", "Private_Dirty:", "Pss:"):
            key = "pss" if parts[0] == "Pss:" else "private"
            totals[kind][key] += int(parts[1])
    return totals


def summary(samples: list[dict[str, int]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in ("pss", "private", "rss")}


# --- dockyard -------------------------------------------------------------------------------
async def dockyard_memory(lab: Lab, launcher_kind: str, n: int, *, ksm: bool = False) -> dict[str, object]:
    zygote = await Zygote.start() if launcher_kind == "zygote" else None
    launcher = zygote or ExecLauncher()
    base_pss = 0
    if zygote is not None:
        await asyncio.sleep(1.0)  # its imports and warm-up are done by then
        assert zygote.pid is not None
        base_pss = smaps(zygote.pid)["pss"]
    clients, waits = [], []
    try:
        for _ in range(n):
            container_id, bundle = lab.bundle()
            config = MonitorConfig(
                task_id=container_id, container_id=container_id, mode="init",
                monitor_dir=lab.base / f"m-{container_id}", runtime=RUNC, runtime_root=lab.root,
                bundle=bundle, log_path=str(lab.base / f"{container_id}-json.log"),
            )  # fmt: skip
            client = await MonitorClient.spawn(config, launcher=launcher)
            await client.start()
            clients.append(client)
            waits.append(asyncio.ensure_future(client.wait()))  # the engine keeps one pending
        await asyncio.sleep(1.5)
        if ksm:
            await asyncio.to_thread(ksm_settle)
        pids = [c.monitor_pid for c in clients if c.monitor_pid is not None]
        samples = [smaps(pid) for pid in pids]
        kinds = breakdown(pids[len(pids) // 2])
        zygote_now = smaps(zygote.pid)["pss"] if zygote is not None and zygote.pid is not None else 0
    finally:
        lab.kill_containers()
        try:  # a container that would not die must not hang the benchmark
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 60)
        except TimeoutError:
            print("warning: some monitors did not report an exit", file=sys.stderr)
        if zygote is not None:
            await zygote.close()
    total = sum(s["pss"] for s in samples) + zygote_now - base_pss
    return {"per_process": summary(samples), "marginal_pss": total / n, "helper_pss": zygote_now,
            "helper_alone_pss": base_pss, "breakdown": kinds}  # fmt: skip


# --- KSM ---------------------------------------------------------------------------------------
KSM = Path("/sys/kernel/mm/ksm")


class ksm_running:
    """Run ksmd (kernel same-page merging) for the duration, scanning fast; restore after.

    The zygote opts its monitors in (prctl PR_SET_MEMORY_MERGE); ksmd only scans processes
    that opted in, so nothing else on the host is touched. Needs Linux 6.4 and root.
    """

    SETTINGS = ("run", "pages_to_scan", "sleep_millisecs")

    def __enter__(self) -> None:
        self.saved = {name: (KSM / name).read_text().strip() for name in self.SETTINGS}
        (KSM / "pages_to_scan").write_text("1000")
        (KSM / "sleep_millisecs").write_text("20")
        (KSM / "run").write_text("1")

    def __exit__(self, *exc: object) -> None:
        for name in reversed(self.SETTINGS):
            (KSM / name).write_text(self.saved[name])


def ksm_settle(timeout: float = 60.0) -> None:
    """Wait for ksmd to finish two full scans after now: what can merge has merged."""
    start = int((KSM / "full_scans").read_text())
    deadline = time.monotonic() + timeout
    while int((KSM / "full_scans").read_text()) < start + 2 and time.monotonic() < deadline:
        time.sleep(0.2)


async def latency(lab: Lab, runs: int) -> dict[str, dict[str, float]]:
    zygote = await Zygote.start()
    await asyncio.sleep(1.0)
    plain = ExecLauncher()
    times: dict[str, list[tuple[float, float]]] = {"zygote": [], "exec": [], "runc": []}
    try:
        for _ in range(runs):
            for kind in ("zygote", "exec", "runc"):
                container_id, bundle = lab.bundle()
                begin = time.perf_counter()
                if kind == "runc":
                    lab.create(container_id, bundle)
                    created = time.perf_counter()
                    lab.runc("start", container_id, check=True)
                else:
                    config = MonitorConfig(
                        task_id=container_id, container_id=container_id, mode="init",
                        monitor_dir=lab.base / f"m-{container_id}", runtime=RUNC, runtime_root=lab.root,
                        bundle=bundle, log_path=str(lab.base / f"{container_id}-json.log"),
                    )  # fmt: skip
                    client = await MonitorClient.spawn(config, launcher=zygote if kind == "zygote" else plain)
                    created = time.perf_counter()
                    await client.start()
                started = time.perf_counter()
                times[kind].append(((created - begin) * 1000, (started - created) * 1000))
                lab.runc("kill", container_id, "KILL")
                if kind != "runc":
                    await client.wait()
                lab.runc("delete", "--force", container_id)
    finally:
        await zygote.close()
    return {
        kind: {
            "created_ms": statistics.median(t[0] for t in samples),
            "started_ms": statistics.median(t[1] for t in samples),
            "total_ms": statistics.median(t[0] + t[1] for t in samples),
        }
        for kind, samples in times.items()
    }


# --- peers -----------------------------------------------------------------------------------
def conmon_memory(lab: Lab, n: int) -> dict[str, object]:
    conmon = shutil.which("conmon")
    if conmon is None:
        return {"error": "conmon is not installed"}
    pids = []
    try:
        for _ in range(n):
            container_id, bundle = lab.bundle()
            exits = lab.base / "conmon-exits"
            exits.mkdir(exist_ok=True)
            argv = [conmon, "--api-version", "1", "-c", container_id, "-u", container_id, "-r", RUNC,
                    "-b", str(bundle), "-p", str(bundle / "pidfile"), "-n", container_id,
                    "--exit-dir", str(exits), "--full-attach", "-l", f"k8s-file:{bundle / 'ctr.log'}",
                    "--log-level", "warning", "--runtime-arg", "--log-format=json", "--runtime-arg", "--log",
                    f"--runtime-arg={bundle / 'oci-log'}", "--runtime-arg", "--root",
                    "--runtime-arg", str(lab.root), "--conmon-pidfile", str(bundle / "conmon.pid"),
                    "--socket-dir-path", str(lab.base)]  # fmt: skip
            subprocess.run(argv, check=True, timeout=30, capture_output=True)
            pid = int((bundle / "conmon.pid").read_text())
            lab.pids.append(pid)
            pids.append(pid)
            deadline = time.monotonic() + 10  # conmon returns before runc create has finished
            while '"created"' not in lab.runc("state", container_id).stdout and time.monotonic() < deadline:
                time.sleep(0.01)
            lab.runc("start", container_id, check=True)
        time.sleep(1.5)
        samples = [smaps(pid) for pid in pids]
    finally:
        lab.kill_containers()
    return {"per_process": summary(samples), "marginal_pss": sum(s["pss"] for s in samples) / n}


def shim_memory(lab: Lab, n: int) -> dict[str, object]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        return {"error": "containerd or ctr is not installed"}
    home = Path(tempfile.mkdtemp(prefix="ctrd-", dir=lab.base))
    sock = home / "containerd.sock"
    (home / "config.toml").write_text(
        f'version = 2\nroot = "{home}/root"\nstate = "{home}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    daemon = subprocess.Popen(["containerd", "--config", str(home / "config.toml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lab.pids.append(daemon.pid)
    ctr = ["ctr", "-a", str(sock), "-n", lab.name]
    ids: list[str] = []
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run([*ctr, "version"], capture_output=True).returncode and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        idle = smaps(daemon.pid)["pss"]
        for _ in range(n):
            container_id, bundle = lab.bundle()
            subprocess.run([*ctr, "run", "--rootfs", "-d", "--cgroup", f"/{lab.name}/{container_id}",
                            str(bundle / "rootfs"), container_id, "/bin/sleep", "100000"],
                           check=True, capture_output=True, timeout=30)  # fmt: skip
            ids.append(container_id)
        time.sleep(1.5)
        shims = _shim_pids(ids)
        samples = [smaps(pid) for pid in shims]
        grown = smaps(daemon.pid)["pss"] - idle
    finally:
        for container_id in ids:
            subprocess.run(
                [*ctr, "task", "kill", "-s", "KILL", container_id], capture_output=True, timeout=30
            )
            time.sleep(0.1)
            subprocess.run([*ctr, "task", "rm", "-f", container_id], capture_output=True, timeout=30)
            subprocess.run([*ctr, "container", "rm", container_id], capture_output=True, timeout=30)
        daemon.terminate()
        daemon.wait(timeout=30)
    total = sum(s["pss"] for s in samples) + grown
    return {"per_process": summary(samples), "marginal_pss": total / n, "helper_pss": idle + grown,
            "helper_alone_pss": idle}  # fmt: skip


def _shim_pids(ids: list[str]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and any(i.encode() in argv for i in ids):
            found.append(int(entry.name))
    return found


# --- report ----------------------------------------------------------------------------------
def table(results: dict[str, dict[str, object]], n: int) -> str:
    lines = [
        "| supervisor | containers | PSS per process (KiB) | private (KiB) | RSS (KiB) "
        "| marginal PSS per container (KiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    for name, by_n in results.items():
        for count in (1, n):
            row = by_n.get(str(count))
            if not isinstance(row, dict):
                continue
            if "error" in row:
                lines.append(f"| {name} | {count} | not measured: {row['error']} | | | |")
                continue
            per = row["per_process"]
            assert isinstance(per, dict)
            lines.append(f"| {name} | {count} | {per['pss']:.0f} | {per['private']:.0f} | {per['rss']:.0f} "
                         f"| {row['marginal_pss']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def breakdown_table(results: dict[str, dict[str, object]], n: int) -> str:
    """Where one of dockyard's idle monitors keeps its memory, by kind (see CATEGORIES)."""
    rows = [(name, by_n.get(str(n))) for name, by_n in results.items() if name.startswith("dockyard")]
    rows = [(name, row) for name, row in rows if isinstance(row, dict) and "breakdown" in row]
    lines = [
        "| memory of one idle monitor (KiB) | "
        + " | ".join(f"{name}, N={n}: private / PSS" for name, _ in rows)
        + " |",
        "| --- |" + " ---: |" * len(rows),
    ]
    for kind, meaning in CATEGORIES:
        cells = []
        for _, row in rows:
            part = row["breakdown"][kind]  # type: ignore[index]
            cells.append(f"{part['private']} / {part['pss']}")
        lines.append(f"| {kind}: {meaning} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="containers at once for the second measurement")
    parser.add_argument("--runs", type=int, default=15, help="spawn latency samples per launcher")
    parser.add_argument(
        "--ksm", action="store_true", help="also measure N monitors with ksmd on (for that run only)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    # An editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile at every start.
    compileall.compile_dir(str(ROOT / "src" / "dockyard"), quiet=1)
    lab = Lab()
    memory: dict[str, dict[str, object]] = {"dockyard (zygote)": {}, "dockyard (exec)": {}, "conmon": {},
                                            "containerd-shim-runc-v2": {}}  # fmt: skip
    try:
        for count in sorted({1, args.n}):
            memory["dockyard (zygote)"][str(count)] = asyncio.run(dockyard_memory(lab, "zygote", count))
            memory["dockyard (exec)"][str(count)] = asyncio.run(dockyard_memory(lab, "exec", count))
            memory["conmon"][str(count)] = conmon_memory(lab, count)
            memory["containerd-shim-runc-v2"][str(count)] = shim_memory(lab, count)
        if args.ksm:
            with ksm_running():
                memory["dockyard (zygote, ksmd on)"] = {
                    str(args.n): asyncio.run(dockyard_memory(lab, "zygote", args.n, ksm=True))
                }
        timing = asyncio.run(latency(lab, args.runs))
    finally:
        lab.cleanup()
    print(table(memory, args.n))
    print()
    print(breakdown_table(memory, args.n))
    print()
    print("| spawn path | spawn -> created (ms) | created -> started (ms) | total (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for kind, row in timing.items():
        label = {
            "zygote": "monitor via zygote",
            "exec": "monitor via exec",
            "runc": "bare runc create + start",
        }[kind]
        print(f"| {label} | {row['created_ms']:.1f} | {row['started_ms']:.1f} | {row['total_ms']:.1f} |")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"monitor_memory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    versions = {
        "python": sys.version.split()[0],
        "runc": subprocess.run([RUNC, "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "conmon": subprocess.run(["conmon", "--version"], capture_output=True, text=True).stdout.split("\n")[
            0
        ],
        "containerd": subprocess.run(
            ["containerd", "--version"], capture_output=True, text=True
        ).stdout.strip(),
    }
    out.write_text(json.dumps({"n": args.n, "memory_kib": memory, "latency": timing, "versions": versions},
                              indent=2))  # fmt: skip
    print(f"\nraw: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
