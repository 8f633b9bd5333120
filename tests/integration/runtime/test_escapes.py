"""The escape tests of reliability-security.md section 5.1 (S01, S02, S03-lite, masks, rootfs shape).

Repetitions are scaled to the suite's time budget: S01 runs 20 ``exec`` and 20 ``run`` per
runtime (the plan's 50 + 50 take about 12 s per runtime here), S03-lite 30 victim starts
against a racing attacker.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from dockyard.oci import runtime_spec as rs
from tests.support.conformance import Lab, runtime_argv
from tests.support.probes import EXE_WATCHER, RENAMER, compile_probe

S01_EXECS = 20
S01_RUNS = 20
S03_STARTS = 30


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _protected_files(lab: Lab) -> list[str]:
    """python3 itself and the runtime's own executable files."""
    files = {os.path.realpath(sys.executable), os.path.realpath(runtime_argv(lab.runtime)[0])}
    return sorted(files)


def _bind(source: Path, destination: str) -> rs.Mount:
    return rs.Mount(destination=destination, type="bind", source=str(source), options=["rbind"])


def test_s01_exe_overwrite(lab: Lab, request: pytest.FixtureRequest) -> None:
    if lab.runtime == "dockyard-runtime" and os.uname().machine != "x86_64":
        # No sealed helper for this machine: init execs from Python (init_process.py's essay).
        request.applymarker(pytest.mark.xfail(reason="no sealed exec helper on this machine", strict=False))
    before = {f: _sha256(f) for f in _protected_files(lab)}
    out = lab.dir / "watch"
    out.mkdir()
    watcher = compile_probe(EXE_WATCHER)

    # The positive control: a host file (a copy of busybox outside every rootfs) run in the
    # container must be reported when write-opened, or the watcher would prove nothing.
    canary = lab.dir / "canary"
    canary.mkdir()
    shutil.copy2("/bin/busybox", canary / "busybox")

    def hostile(spec: rs.Spec) -> None:
        spec.mounts.append(_bind(out, "/out"))
        spec.mounts.append(_bind(canary, "/canary"))

    ident, bundle = lab.bundle(["/watcher", "/out/log"], mutate=hostile)
    rootfs = bundle / "rootfs"
    (rootfs / "bin" / "sh").unlink()
    (rootfs / "bin" / "sh").write_text("#!/proc/self/exe\n")
    (rootfs / "bin" / "sh").chmod(0o755)
    shutil.copy(watcher, rootfs / "watcher")
    _own_busybox(rootfs)
    lab.cmd("create", "--bundle", str(bundle), ident).ok()
    lab.cmd("start", ident).ok()
    deadline = time.monotonic() + 10
    while not (out / "log").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pid = lab.pid(ident)
    for _ in range(S01_EXECS):
        lab.cmd("exec", ident, "/bin/sh")
    lab.cmd("exec", ident, "/canary/busybox", "sleep", "0.3").ok()

    def share_pid_ns(spec: rs.Spec) -> None:
        assert spec.linux is not None
        for ns in spec.linux.namespaces:
            if ns.type == "pid":
                ns.path = f"/proc/{pid}/ns/pid"

    _, run_bundle = lab.bundle(["/bin/sh"], mutate=share_pid_ns)
    _own_busybox(run_bundle / "rootfs")
    run_sh = run_bundle / "rootfs" / "bin" / "sh"
    run_sh.unlink()
    run_sh.write_text("#!/proc/self/exe\n")
    run_sh.chmod(0o755)
    for _ in range(S01_RUNS):
        lab.cmd("run", "--bundle", str(run_bundle), lab.new_id())
    time.sleep(0.5)  # let the watcher retry what it holds
    lab.cmd("kill", ident, "KILL")
    log = (out / "log").read_text().splitlines()
    assert log[0] == "READY"
    # A write-open of the container's own files is no escape; of anything else (python3, a
    # runtime's binary, any host file) it is.
    own = _inodes(rootfs) | _inodes(run_bundle / "rootfs")
    control = _inodes(canary)
    outside = {line.split()[1] for line in log if line.startswith("WRITE ") and line.split()[1] not in own}
    assert control <= outside, f"the watcher missed the host canary: {log[:20]}"
    escapes = [line for line in log if line.startswith("WRITE ") and line.split()[1] not in own | control]
    assert escapes == [], f"write-opens of executables outside the container: {escapes}"
    assert {f: _sha256(f) for f in _protected_files(lab)} == before


def _own_busybox(rootfs: Path) -> None:
    """A private copy: the test rootfs hard-links the host's /bin/busybox, one inode with it."""
    target = rootfs / "bin" / "busybox"
    target.unlink()
    shutil.copy2("/bin/busybox", target)


def _inodes(rootfs: Path) -> set[str]:
    """``dev:ino`` of every regular file under ``rootfs`` (as the watcher prints them)."""
    found = set()
    for path in rootfs.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            found.add(f"{st.st_dev}:{st.st_ino}")
    return found


def _assert_only_stdio(listing: str) -> None:
    """Only 0, 1, 2 and the directory fd ``ls`` opened itself (runc's create.bats allow-list)."""
    fds = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 9 or not parts[0].startswith("l"):
            continue
        fds.append(int(parts[8]))
    assert sorted(fds)[:3] == [0, 1, 2], listing
    assert set(fds) <= {0, 1, 2, 3}, listing


def test_s02_no_fd_leaks_into_run_create_or_exec(lab: Lab) -> None:
    # The caller leaks two inheritable fds (a pipe and a directory) into the runtime.
    leak_r, leak_w = os.pipe()
    leak_dir = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    for fd in (leak_r, leak_w, leak_dir):
        os.set_inheritable(fd, True)
    fds = (leak_r, leak_w, leak_dir)
    try:
        run_id, run_bundle = lab.bundle(["ls", "-l", "/proc/self/fd"])
        _assert_only_stdio(lab.cmd_fds(fds, "run", "--bundle", str(run_bundle), run_id).ok().stdout)
        ident = lab.start_sleeper()
        _assert_only_stdio(lab.cmd_fds(fds, "exec", ident, "ls", "-l", "/proc/self/fd").ok().stdout)
        out = lab.dir / "fds"
        out.mkdir()
        created, bundle = lab.bundle(
            ["sh", "-c", "ls -l /proc/self/fd > /out/list"],
            mutate=lambda s: s.mounts.append(_bind(out, "/out")),
        )
        lab.cmd_fds(fds, "create", "--bundle", str(bundle), created).ok()
        lab.cmd_fds(fds, "start", created).ok()
        lab.wait_stopped(created)
        listing = (out / "list").read_text()
        fd_numbers = {int(line.split()[8]) for line in listing.splitlines() if line.startswith("l")}
        # sh's redirection adds fd 1 -> /out/list and ls its directory fd; nothing else.
        assert fd_numbers <= {0, 1, 2, 3}, listing
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize("fd", range(3, 21))
def test_s02_cwd_through_a_leaked_fd_stays_inside(lab: Lab, fd: int) -> None:
    def cwd(spec: rs.Spec) -> None:
        assert spec.process is not None
        spec.process.cwd = f"/proc/self/fd/{fd}"

    result = lab.run(["sh", "-c", "pwd; ls ../../.."], mutate=cwd)
    if result.returncode != 0:
        return  # refused: fine
    lines = result.stdout.split()
    assert "unreachable" not in result.stdout
    assert "var" not in lines, f"host / listed from cwd {lines[0]}"
    assert "work" not in lines, f"host / listed from cwd {lines[0]}"


def test_s03_lite_mount_symlink_race(lab: Lab) -> None:
    shared = lab.dir / "shared"
    (shared / "d").mkdir(parents=True)
    (shared / "l").symlink_to("/")
    canary = lab.dir / "canary"
    canary.write_text("do not touch\n")
    canary_before = (canary.read_bytes(), canary.stat().st_mode, canary.stat().st_mtime_ns)
    host_mounts_before = Path("/proc/self/mountinfo").read_text().count("size=20k")

    attacker, bundle = lab.bundle(["/renamer", "/shared/d", "/shared/l"],
                                  mutate=lambda s: s.mounts.append(_bind(shared, "/shared")))  # fmt: skip
    shutil.copy(compile_probe(RENAMER), bundle / "rootfs" / "renamer")
    lab.cmd("create", "--bundle", str(bundle), attacker).ok()
    lab.cmd("start", attacker).ok()

    def victim(spec: rs.Spec) -> None:
        spec.mounts.append(_bind(shared, "/shared"))
        for i in range(10):
            spec.mounts.append(
                rs.Mount(destination=f"/shared/d/m{i}", type="tmpfs", source="tmpfs", options=["size=20k"])
            )

    _, victim_bundle = lab.bundle(["cat", "/proc/self/mountinfo"], mutate=victim)
    started = 0
    for _ in range(S03_STARTS):
        result = lab.cmd("run", "--bundle", str(victim_bundle), lab.new_id())
        if result.returncode != 0:
            continue  # a runtime may refuse a path that changed under it
        started += 1
        tagged = [line for line in result.stdout.splitlines() if "size=20k" in line]
        assert len(tagged) == 10, f"a mount landed outside the rootfs:\n{result.stdout}"
    lab.cmd("kill", attacker, "KILL")
    if lab.runtime == "dockyard-runtime":
        assert started > 0  # refusing every start would make the check vacuous (runc may, at times)
    assert Path("/proc/self/mountinfo").read_text().count("size=20k") == host_mounts_before
    assert (canary.read_bytes(), canary.stat().st_mode, canary.stat().st_mtime_ns) == canary_before


def test_masked_path_with_dev_null_swapped_for_core_pattern(lab: Lab) -> None:
    if lab.runtime != "dockyard-runtime":
        # Debian's runc 1.1.5 predates the CVE-2025-31133 fix: on this very case it bound the
        # host's core_pattern over the masked files and the host's core_pattern changed. An
        # escape test must not be run against a runtime known to escape.
        reason = {
            "runc": "runc 1.1.5 predates the CVE-2025-31133 fix: this case changed the host's core_pattern",
            "crun": "crun 1.8.1 is not known to have the CVE-2025-31133 fix: not run on a live host",
        }
        pytest.skip(reason.get(lab.runtime, "only run against dockyard-runtime"))
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()

    def rootfs_dev(spec: rs.Spec) -> None:
        spec.mounts = [m for m in spec.mounts if m.destination != "/dev"]

    ident, bundle = lab.bundle(
        ["sh", "-c", "cat /proc/keys | wc -c; echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo rc=$?"],
        mutate=rootfs_dev,
    )
    dev = bundle / "rootfs" / "dev"
    for name in ("pts", "shm", "mqueue"):
        (dev / name).mkdir(exist_ok=True)
    (dev / "null").symlink_to("/proc/sys/kernel/core_pattern")
    try:
        result = lab.cmd("run", "--bundle", str(bundle), ident)
        assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern
    finally:
        Path("/proc/sys/kernel/core_pattern").write_text(core_pattern)
    if result.returncode == 0:
        assert result.stdout.split() == ["0", "rc=1"]


@pytest.mark.parametrize("where", ["proc", "sys"])
def test_proc_or_sys_as_a_symlink_is_refused(lab: Lab, where: str) -> None:
    ident, bundle = lab.bundle(["true"])
    target = bundle / "rootfs" / where
    target.rmdir()
    (bundle / "rootfs" / "bad").mkdir()
    target.symlink_to("/bad")
    result = lab.cmd("run", "--bundle", str(bundle), ident)
    assert result.returncode != 0
    assert not (bundle / "rootfs" / "bad" / "self").exists()
