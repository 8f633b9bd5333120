"""OCI bundles for tests: a busybox rootfs plus a ``config.json`` any runc-grammar runtime accepts.

``default_spec`` mirrors what ``runc spec`` writes (runc's defaults, which all three runtimes
under test understand), with Docker's 14 default capabilities and no terminal. Tests change
what they need with ``mutate`` (a function that edits the ``Spec`` in place) and check the
effect from inside the container with busybox applets.

A cgroup path is always set, under a per-test parent named ``dyt-<hex>``, so the leak check
finds any cgroup a runtime leaves behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dockyard.oci import runtime_spec as rs
from dockyard.util import jsoncodec
from tests.support.rootfs import build_rootfs

__all__ = ["DEFAULT_CAPS", "default_spec", "make_bundle", "write_spec"]

DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
"""Docker's default capabilities (moby daemon/pkg/oci/caps/defaults.go); CapEff 00000000a80425fb."""

MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mount(destination: str, type_: str, source: str, options: list[str]) -> rs.Mount:
    return rs.Mount(destination=destination, type=type_, source=source, options=options)


def default_spec(args: list[str], *, cgroups_path: str | None = None) -> rs.Spec:
    """runc's default spec, with Docker's capabilities and masked paths, running ``args``."""
    caps = list(DEFAULT_CAPS)
    return rs.Spec(
        oci_version="1.0.2",
        process=rs.Process(
            terminal=False,
            user=rs.User(uid=0, gid=0),
            args=list(args),
            env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=dyt"],
            cwd="/",
            capabilities=rs.LinuxCapabilities(bounding=caps, effective=list(caps), permitted=list(caps)),
            rlimits=[rs.POSIXRlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024)],
            no_new_privileges=False,
        ),
        root=rs.Root(path="rootfs", readonly=False),
        hostname="dyt",
        mounts=[
            _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            _mount(
                "/dev/pts",
                "devpts",
                "devpts",
                ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            ),
            _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
            _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ],
        linux=rs.Linux(
            resources=rs.LinuxResources(devices=[rs.LinuxDeviceCgroup(allow=False, access="rwm")]),
            cgroups_path=cgroups_path,
            namespaces=[rs.LinuxNamespace(type=t) for t in ("pid", "network", "ipc", "uts", "mount")],
            masked_paths=list(MASKED_PATHS),
            readonly_paths=list(READONLY_PATHS),
        ),
    )


def write_spec(bundle: Path, spec: rs.Spec) -> None:
    """Write ``spec`` as the bundle's ``config.json``."""
    (bundle / "config.json").write_text(jsoncodec.dumps(spec.to_json(), indent=2))


def make_bundle(
    bundle: Path,
    args: list[str],
    *,
    cgroups_path: str | None = None,
    mutate: Callable[[rs.Spec], None] | None = None,
) -> rs.Spec:
    """Create ``bundle/rootfs`` (busybox) and ``bundle/config.json``; return the spec written.

    ``bundle`` must not be world-traversable in production, but tests only need it to exist;
    its parent should be a per-test temporary directory named ``dyt-...``.
    """
    bundle.mkdir(parents=True, exist_ok=True)
    os.chmod(bundle, 0o711)
    # A copy, never a hard link: a container running as root could otherwise write through the
    # link into the host's /bin/busybox.
    build_rootfs(bundle / "rootfs")
    spec = default_spec(args, cgroups_path=cgroups_path)
    if mutate is not None:
        mutate(spec)
    write_spec(bundle, spec)
    return spec
