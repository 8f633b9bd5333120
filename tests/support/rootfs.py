"""A tiny root filesystem made from Debian's busybox-static, for test containers and images.

There is no Docker Hub here, so every image the tests run is built from ``/bin/busybox``: one
static binary, a symlink per applet (``/bin/sh``, ``ash``, ``ls``, ``echo``, ``hostname``, ...),
and the few files a Linux userland expects (``/etc/passwd``, ``/etc/group``, empty ``/proc``,
``/sys``, ``/dev``, ``/tmp``). It is about 2 MB and takes milliseconds to lay out.

``build_rootfs`` writes one into a directory; tests that need many copies hard-link the binary
(``link=True``) so each copy costs only its symlinks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["BUSYBOX", "applets", "build_rootfs"]

BUSYBOX = Path("/bin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:
nogroup:x:65534:
"""

_DIRECTORIES = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "sys", "dev", "home")

_applets: list[str] | None = None


def applets() -> list[str]:
    """The applets of this busybox, as paths relative to ``/`` (``bin/sh``, ``usr/bin/env``)."""
    global _applets
    if _applets is None:
        out = subprocess.run(
            [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        _applets = [line.strip() for line in out.splitlines() if line.strip()]
    return list(_applets)


def build_rootfs(dest: Path, *, link: bool = False, extra: dict[str, str] | None = None) -> Path:
    """Lay out a busybox rootfs in ``dest`` (created if missing) and return ``dest``.

    ``link`` hard-links ``/bin/busybox`` instead of copying it (same filesystem only; it falls
    back to a copy). ``extra`` maps paths inside the rootfs to file contents to add.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for directory in _DIRECTORIES:
        (dest / directory).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    target = dest / "bin" / "busybox"
    if link:
        try:
            os.link(BUSYBOX, target)
        except OSError:
            shutil.copy2(BUSYBOX, target)
    else:
        shutil.copy2(BUSYBOX, target)
    for applet in applets():
        path = dest / applet
        if path.name == "busybox" or path.exists() or path.is_symlink():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to("/bin/busybox")
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "hostname").write_text("busybox\n")
    for rel, content in (extra or {}).items():
        path = dest / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return dest
