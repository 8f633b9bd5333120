"""The informational and rarely used commands: ``update``'s input, ``features`` and ``spec``.

Kept out of the create path's import closure: none of this runs when a container starts.
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import InvalidArgument
from dockyard.oci import runtime_spec
from dockyard.util import jsoncodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cli import Parsed

__all__ = ["default_spec", "features", "features_text", "resources_from", "write_default_spec"]

_SIZE_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str, flag: str) -> int:
    """runc's RAMInBytes: ``512m``, ``1g``, ``-1``; plain numbers are bytes."""
    value = text.strip().lower().removesuffix("b")
    multiplier = _SIZE_SUFFIX.get(value[-1:], 1) if value else 1
    digits = value[:-1] if multiplier != 1 else value
    try:
        return int(digits) * multiplier
    except ValueError:
        raise InvalidArgument(f"invalid value for {flag}: {text}") from None


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid value for {flag}: {text}") from None


def resources_from(parsed: Parsed) -> runtime_spec.LinuxResources:
    """``update``'s resources: ``--resources FILE`` (``-`` for stdin) and/or the flags.

    Raises:
        InvalidArgument: unreadable or malformed JSON, or a bad flag value.
    """
    data: dict[str, object] = {}
    path = parsed.flag("resources")
    if path is not None:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path) as f:
                    text = f.read()
            loaded = jsoncodec.loads(text)
        except (OSError, jsoncodec.JSONDecodeError) as exc:
            raise InvalidArgument(f"update --resources {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidArgument(f"update --resources {path}: expected a JSON object")
        data = loaded
    memory = dict(data.get("memory") or {})  # type: ignore[call-overload]
    cpu = dict(data.get("cpu") or {})  # type: ignore[call-overload]
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"), ("memory-reservation", "reservation")):
        if parsed.flag(flag) is not None:
            memory[key] = _size(str(parsed.flag(flag)), flag)
    for flag, key in (("cpu-quota", "quota"), ("cpu-period", "period"), ("cpu-shares", "shares")):
        if parsed.flag(flag) is not None:
            cpu[key] = _int(str(parsed.flag(flag)), flag)
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if parsed.flag(flag) is not None:
            cpu[key] = parsed.flag(flag)
    if memory:
        data["memory"] = memory
    if cpu:
        data["cpu"] = cpu
    if parsed.flag("pids-limit") is not None:
        data["pids"] = {"limit": _int(str(parsed.flag("pids-limit")), "pids-limit")}
    if parsed.flag("blkio-weight") is not None:
        data["blockIO"] = {"weight": _int(str(parsed.flag("blkio-weight")), "blkio-weight")}
    resources = runtime_spec.LinuxResources.from_json(data, "resources")
    assert isinstance(resources, runtime_spec.LinuxResources)
    return resources


def features() -> dict[str, object]:
    """runtime-spec ``features.md``: what this runtime implements."""
    from dockyard.runtime import capabilities, mounts, namespaces

    options = sorted([*mounts._FLAGS, *mounts.PROPAGATION])
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(namespaces.FLAGS),
            "capabilities": capabilities.from_mask((1 << (capabilities.last_cap() + 1)) - 1),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": [
                    "SCMP_ACT_ALLOW",
                    "SCMP_ACT_ERRNO",
                    "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG",
                    "SCMP_ACT_NOTIFY",
                    "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP",
                ],
                "operators": [
                    "SCMP_CMP_EQ",
                    "SCMP_CMP_GE",
                    "SCMP_CMP_GT",
                    "SCMP_CMP_LE",
                    "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ",
                    "SCMP_CMP_NE",
                ],
                "archs": [
                    "SCMP_ARCH_AARCH64",
                    "SCMP_ARCH_ARM",
                    "SCMP_ARCH_X32",
                    "SCMP_ARCH_X86",
                    "SCMP_ARCH_X86_64",
                ],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "dockyard-runtime"},
    }


def features_text() -> str:
    return jsoncodec.dumps(features(), indent=4)


def default_spec() -> dict[str, object]:
    """runc's ``spec`` template (runc libcontainer/specconv ``Example``), running ``sh``."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def write_default_spec(bundle: str) -> None:
    """Write ``config.json`` into ``bundle``; refuse to overwrite, as runc does.

    Raises:
        InvalidArgument: the file exists.
    """
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise InvalidArgument("File config.json exists. Remove it first.")
    with open(path, "x") as f:
        f.write(jsoncodec.dumps(default_spec(), indent=4))
