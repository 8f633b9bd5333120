"""Tiny static C probes for what busybox cannot do, compiled with gcc at test time (DESIGN section 7).

- ``exe_watcher``: CVE-2019-5736's attacker. It loops over ``/proc/*/exe`` opening each with
  ``O_PATH`` and keeps the fds (logging ``SEEN <target>`` once per pid, so a test can tell that
  it does see the container's processes); on every pass it tries to reopen each held fd ``O_WRONLY``
  through ``/proc/self/fd/N`` (``ETXTBSY`` while the file is being executed, success once it no
  longer is). A successful write-open is written to the log as ``SEALED <dev>:<ino> <target>``
  when the file is a memfd with ``F_SEAL_WRITE`` (harmless: every write fails) and as
  ``WRITE <dev>:<ino> <target>`` otherwise. It never writes to what it opened.
- ``renamer``: CVE-2021-30465's attacker: loops ``renameat2(RENAME_EXCHANGE)`` of two paths.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["compile_probe"]

EXE_WATCHER = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELD 512
#define SEEN 8192
static int fds[HELD];
static int tries[HELD];
static char seen[SEEN];

static void note(FILE *out, const char *what, int fd) {
    char link[64], target[512];
    struct stat st = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    fstat(fd, &st);
    fprintf(out, "%s %lu:%lu %s\n", what, (unsigned long)st.st_dev, (unsigned long)st.st_ino, target);
    fflush(out);
}

int main(int argc, char **argv) {
    FILE *out = fopen(argv[1], "a");
    if (!out) return 1;
    fprintf(out, "READY\n");
    fflush(out);
    int self = getpid();
    for (int i = 0; i < HELD; i++) fds[i] = -1;
    int top = 1;
    for (long pass = 0;; pass++) {
        /* Every 64th pass a full scan of /proc; in between, a tight poll of the next few pids
           (pid namespaces number new processes in sequence), to catch short-lived ones. */
        DIR *proc = pass % 64 == 0 ? opendir("/proc") : NULL;
        struct dirent *e;
        int candidates[64], count = 0;
        while (proc && (e = readdir(proc)) && count < 56) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            candidates[count++] = atoi(e->d_name);
        }
        if (proc) closedir(proc);
        for (int k = 1; k <= 8; k++) candidates[count++] = top + k;
        for (int c = 0; c < count; c++) {
            int pid = candidates[c];
            if (pid == self) continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            if (pid > top) top = pid;
            if (pid < SEEN && !seen[pid]) {
                seen[pid] = 1;
                note(out, "SEEN", fd);
            }
            int slot = -1;
            for (int i = 0; i < HELD; i++) if (fds[i] < 0) { slot = i; break; }
            if (slot < 0) { close(fd); continue; }
            fds[slot] = fd;
            tries[slot] = 0;
        }
        for (int i = 0; i < HELD; i++) {
            if (fds[i] < 0) continue;
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
            int w = open(link, O_WRONLY | O_CLOEXEC);
            if (w >= 0) {
                int seals = fcntl(w, F_GET_SEALS);
                note(out, seals >= 0 && (seals & F_SEAL_WRITE) ? "SEALED" : "WRITE", fds[i]);
                close(w);
            }
            if (w >= 0 || errno != ETXTBSY || ++tries[i] > 2000) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
}
"""

RENAMER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);
}
"""

_CACHE = Path(tempfile.gettempdir()) / "dyt-probes"


def compile_probe(source: str) -> Path:
    """A static binary built from ``source`` (cached by content under the temp directory)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    binary = _CACHE / digest
    if binary.exists():
        return binary
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc is needed to build the test probes"
    _CACHE.mkdir(exist_ok=True)
    src = _CACHE / f"{digest}.c"
    src.write_text(source)
    subprocess.run(
        [gcc, "-static", "-O2", "-o", str(binary), str(src)], check=True, capture_output=True, timeout=120
    )
    return binary
