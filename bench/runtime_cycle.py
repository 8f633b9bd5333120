"""Benchmark: the runtime cycle of a /bin/true bundle, dockyard-runtime against runc and crun.

In one run, interleaved (runtime A, B, C, then A, B, C again ...) so that machine noise falls on
all of them alike, N iterations (default 50) of:

- ``run``: create + start + wait + delete in one command;
- ``create``, ``start`` and ``delete`` as three commands (the engine's path through the monitor).

Each command is started with ``posix_spawn`` and timed from spawn to reaped exit; ``wait4``
also gives the CPU time (user + system) it and the children it reaped used. The bundle is a
busybox rootfs with runc's default spec (tests/support/bundles.py) and a cgroup path under a
``dyt-bench-*`` parent. crun 1.8.1 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
supported") even without a cgroup path; a runtime whose warm-up fails is reported as such and left
out. Medians, p90, minimums, CPU medians and wall ratios against runc are printed as a markdown
table; the raw samples go to ``bench/results/runtime_cycle-<time>.json`` (gitignored).

On a busy machine the wall times of a Python runtime suffer more than runc's (it needs more CPU
and its own two processes compete for it), so the minimum, which approaches the quiet-machine
figure, and the CPU time are shown too. ``--extra NAME=PATH`` adds any other runc-grammar
executable to the same interleaved run, e.g. a launcher of an older checkout for a before/after.

Usage (root): ``.venv/bin/python bench/runtime_cycle.py [-n 50] [--runtime NAME ...] [--extra NAME=PATH]``
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.bundles import make_bundle  # noqa: E402

RUNTIMES = ("dockyard-runtime", "runc", "crun")
PHASES = ("run", "create", "start", "delete")


def _argv(name: str, path: str | None = None) -> list[str]:
    if path is not None:
        return [path]
    if name == "dockyard-runtime":
        return [str(Path(sys.executable).parent / "dockyard-runtime")]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(name)
    return [path]


def _timed(argv: list[str]) -> tuple[float, float, int]:
    """(wall ms, CPU ms of the command and the children it reaped, exit status)."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                                           (os.POSIX_SPAWN_DUP2, null, 2)])  # fmt: skip
        _, status, usage = os.wait4(pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        os.close(null)
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000, os.waitstatus_to_exitcode(status)


class Subject:
    """One runtime under test with its own state root and bundle."""

    def __init__(self, name: str, work: Path, tag: str, path: str | None = None) -> None:
        self.name = name
        self.argv = _argv(name, path)
        self.root = work / f"state-{name}"
        self.bundle = work / f"bundle-{name}"
        self.tag = tag
        self.samples: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.cpu: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.count = 0
        make_bundle(self.bundle, ["/bin/true"], cgroups_path=f"/{tag}/{name}")

    def _cmd(self, *args: str) -> tuple[float, float, int]:
        return _timed([*self.argv, "--root", str(self.root), *args])

    def cycle(self, record: bool = True) -> None:
        """One ``run`` and one create/start/delete; raises if any command fails."""
        self.count += 1
        ident = f"{self.tag}-{self.name}-{self.count}"
        timings = {"run": self._cmd("run", "--bundle", str(self.bundle), ident)}
        ident += "-split"
        timings["create"] = self._cmd("create", "--bundle", str(self.bundle), ident)
        timings["start"] = self._cmd("start", ident)
        for _ in range(200):  # /bin/true exits at once; delete wants it stopped
            if b'"stopped"' in _state(self, ident):
                break
            time.sleep(0.005)
        timings["delete"] = self._cmd("delete", ident)
        failed = {phase: rc for phase, (_, _, rc) in timings.items() if rc != 0}
        if failed:
            _timed([*self.argv, "--root", str(self.root), "delete", "--force", ident])
            raise RuntimeError(f"{self.name} failed ({', '.join(failed)}): {self._reason()}")
        if record:
            for phase, (ms, cpu, _) in timings.items():
                self.samples[phase].append(ms)
                self.cpu[phase].append(cpu)

    def _reason(self) -> str:
        """The runtime's own words for a failing ``run`` (its last stderr line)."""
        import subprocess

        ident = f"{self.tag}-{self.name}-why"
        argv = [*self.argv, "--root", str(self.root), "run", "--bundle", str(self.bundle), ident]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        _timed([*self.argv, "--root", str(self.root), "delete", "--force", ident])
        lines = result.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {result.returncode}"


def _state(subject: Subject, ident: str) -> bytes:
    read, write = os.pipe()
    argv = [*subject.argv, "--root", str(subject.root), "state", ident]
    actions = [(os.POSIX_SPAWN_DUP2, write, 1), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    os.close(write)
    out = b""
    while chunk := os.read(read, 65536):
        out += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return out


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _table(subjects: list[Subject], skipped: dict[str, str]) -> str:
    base = next((s for s in subjects if s.name == "runc"), None)
    lines = [
        "| runtime | phase | median ms | p90 ms | min ms | CPU median ms | median vs runc | min vs runc |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for subject in subjects:
        for phase in PHASES:
            values = subject.samples[phase]
            median = statistics.median(values)
            ratio = f"{median / statistics.median(base.samples[phase]):.2f}x" if base else "n/a"
            low = f"{min(values) / min(base.samples[phase]):.2f}x" if base else "n/a"
            cpu = statistics.median(subject.cpu[phase])
            cells = [subject.name, phase, f"{median:.1f}", f"{_p90(values):.1f}", f"{min(values):.1f}"]
            cells.append(f"{cpu:.1f}")
            lines.append("| " + " | ".join([*cells, ratio, low]) + " |")
    for name, reason in skipped.items():
        lines.append(f"| {name} | - | n/a | n/a | n/a | n/a | {reason} | |")
    return "\n".join(lines)


def _remove_cgroups(tag: str) -> None:
    for top in Path("/sys/fs/cgroup").iterdir():
        parent = top / tag
        if parent.is_dir():
            for child in sorted(parent.rglob("*"), key=lambda p: -len(p.parts)):
                if child.is_dir():
                    child.rmdir()
            parent.rmdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--iterations", type=int, default=50)
    parser.add_argument("--runtime", action="append", choices=RUNTIMES)
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="another runc-grammar executable to measure in the same run")  # fmt: skip
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("runtime_cycle.py needs root", file=sys.stderr)
        return 2
    # Installed packages carry compiled bytecode; an editable checkout with PYTHONDONTWRITEBYTECODE
    # would otherwise recompile dockyard at every start and measure the compiler.
    compileall.compile_dir(str(ROOT / "src" / "dockyard"), quiet=1)
    tag = f"dyt-bench-{os.urandom(3).hex()}"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    subjects: list[Subject] = []
    skipped: dict[str, str] = {}
    try:
        chosen: list[tuple[str, str | None]] = [(name, None) for name in options.runtime or RUNTIMES]
        chosen += [(extra.partition("=")[0], extra.partition("=")[2]) for extra in options.extra]
        for name, path in chosen:
            try:
                subject = Subject(name, work, tag, path)
                subject.cycle(record=False)  # warm-up, and the probe for crun on hybrid hosts
                subjects.append(subject)
            except (RuntimeError, FileNotFoundError) as exc:
                skipped[name] = f"not measured: {exc}"
        for _ in range(options.iterations):
            for subject in subjects:
                subject.cycle()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _remove_cgroups(tag)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    kernel = os.uname().release
    print(f"{options.iterations} interleaved iterations, /bin/true bundle, {kernel}, load {load}\n")
    print(_table(subjects, skipped))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"runtime_cycle-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"iterations": options.iterations, "skipped": skipped,
                               "samples_ms": {s.name: s.samples for s in subjects},
                               "cpu_ms": {s.name: s.cpu for s in subjects}}, indent=1))  # fmt: skip
    print(f"\nsamples: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
