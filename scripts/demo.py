"""Show dockyard doing its main job: the first lab of the tutorials, end to end.

There is no Docker Hub on the project machines, so the demo brings its own: a local
``docker-registry`` on 127.0.0.1 serving an "alpine" image built from Debian's busybox-static
(tests/support/oci_layouts.py). It starts ``dockyardd`` on a throwaway socket and roots, then walks
the lab of ``shared/seeds/000_*`` (pull, image ls, run, run -i, ls -a, start, exec, inspect, stop,
rm) with the real ``docker`` CLI and with ``dockyard``, printing every command and its output.
Everything is removed at the end, whatever happens.

Run as root after ``scripts/install.sh``: ``scripts/demo.sh`` (``--cli docker`` or ``--cli
dockyard`` to walk with one client only).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import oci_layouts  # noqa: E402
from tests.support.daemon import DaemonHarness  # noqa: E402
from tests.support.registry import open_registry, push_image  # noqa: E402

DOCKYARD = str(ROOT / ".venv" / "bin" / "dockyard")
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def show(cli: str, args: str, env: dict[str, str], *, stdin: str | None = None) -> str:
    """Run one lab command, print it and its output, and return its stdout."""
    program = DOCKYARD if cli == "dockyard" else shutil.which("docker") or "docker"
    print(f"{BOLD}$ {cli} {args}{RESET}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [program, *shlex.split(args)], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    sys.stdout.write(result.stdout)
    sys.stdout.write(result.stderr)
    print(f"{DIM}  (exit {result.returncode}, {1000 * (time.monotonic() - started):.0f} ms){RESET}\n")
    return result.stdout


def walk_lab(cli: str, registry: str, env: dict[str, str]) -> None:
    """Seed 000's commands, with the local registry's image tagged as the lab's ``alpine``."""
    print(f"{BOLD}==== the lab with {cli} ===={RESET}\n")
    show(cli, f"image pull {registry}/library/alpine", env)
    show(cli, f"tag {registry}/library/alpine alpine", env)
    show(cli, "image ls", env)
    show(cli, "container run alpine ls -l", env)
    show(cli, 'container run alpine echo "hello from alpine"', env)
    show(cli, "container run alpine /bin/sh", env)
    show(cli, "container ls", env)
    show(cli, "container ls -a", env)
    print(f'{DIM}(the interactive step, typed into -i: echo "hello world" > hello.txt; ls; exit){RESET}')
    show(cli, "container run -i alpine /bin/ash", env, stdin='echo "hello world" > hello.txt\nls\nexit\n')
    container = show(cli, "container ls -a -q -l", env).strip()  # the one with hello.txt
    print(f"{DIM}(isolation: a new container from the same image has no hello.txt){RESET}")
    show(cli, "container run alpine ls", env)
    prefix = container[:4]
    show(cli, f"container start {prefix}", env)
    show(cli, "container ls", env)
    show(cli, f"container exec {prefix} ls", env)
    show(cli, f"container inspect --format '{{{{.State.Status}}}} {{{{.Config.Cmd}}}}' {prefix}", env)
    show(cli, "image inspect --format '{{.Config.Cmd}} {{len .RootFS.Layers}} layers' alpine", env)
    show(cli, f"container stop -t 1 {prefix}", env)
    ids = show(cli, "container ls -a -q", env).split()
    if ids:
        show(cli, "container rm " + " ".join(ids), env)
    show(cli, "image rm alpine", env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", choices=("docker", "dockyard", "both"), default="both")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("demo: run as root (dockyardd creates namespaces, mounts and cgroups)", file=sys.stderr)
        return 1
    with open_registry() as registry:
        push_image(registry, oci_layouts.fixture("alpine"), "library/alpine:latest")
        with DaemonHarness() as daemon:
            env = daemon.env  # DOCKER_HOST and DOCKYARD_HOST point at this daemon
            print(f"{DIM}dockyardd listens on {daemon.host}; the registry on {registry.host}{RESET}\n")
            show("docker", "version", env)
            clis = ("docker", "dockyard") if args.cli == "both" else (args.cli,)
            for cli in clis:
                walk_lab(cli, registry.host, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
