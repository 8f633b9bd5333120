"""What the root tiers may leave behind, counted the same way before and after a session.

Every root test names what it creates with ``dyt-`` (or lives under a dockyard data or exec root),
and registers it for removal. The session fails if anything matching is left: a leaked mount,
cgroup, netns, interface or process breaks the next run, in CI too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["snapshot"]

_NAME = re.compile(r"dyt-|dockyard")
_PROGRAMS = re.compile(
    r"(^|/)(dockyardd|dockyard-monitor|dockyard-runtime|docker-registry)$|dockyard\.(runtime|monitor|daemon)"
)
_IFACE = re.compile(r"^(dyt-|dy[0-9a-f]|dockyard)")


def _mounts() -> set[str]:
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if _NAME.search(point):
            found.add(f"mount {point}")
    return found


def _cgroups() -> set[str]:
    found = set()
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return found
    for top in root.iterdir():
        stack = [(top, 0)]
        while stack:
            path, depth = stack.pop()
            try:
                children = [p for p in path.iterdir() if p.is_dir()]
            except OSError:
                continue
            for child in children:
                if _NAME.search(child.name):
                    found.add(f"cgroup {child}")
                elif depth < 2:
                    stack.append((child, depth + 1))
    return found


def _netns() -> set[str]:
    named = Path("/run/netns")
    if not named.is_dir():
        return set()
    return {f"netns {p.name}" for p in named.iterdir() if _NAME.search(p.name)}


def _interfaces() -> set[str]:
    net = Path("/sys/class/net")
    return {f"interface {p.name}" for p in net.iterdir() if _IFACE.search(p.name)} if net.is_dir() else set()


def _processes() -> set[str]:
    found = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if any(_PROGRAMS.search(w) for w in words[:3]):
            found.add(f"process {entry.name} {' '.join(words)[:120]}")
    return found


def snapshot() -> set[str]:
    """Everything dockyard-shaped on this machine right now, one line per object."""
    return _mounts() | _cgroups() | _netns() | _interfaces() | _processes()
