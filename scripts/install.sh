#!/usr/bin/env bash
# Install everything dockyard and its tests need on a fresh Debian 12 machine, as root:
# the Debian packages (runtimes, registry, docker client, busybox for test images, networking
# tools), then dockyard itself with its test extras in .venv, and its commands in /usr/local/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "install.sh: run as root" >&2; exit 1; fi

packages=(
  python3 python3-venv python3-dev gcc libc6-dev   # the venv's interpreter; gcc builds the tests' tiny probes
  linux-libc-dev libseccomp2 binutils              # syscall tables and libseccomp cross-check the seccomp compiler; as/objdump check the exec helper
  runc crun                                        # the OCI runtimes our own is checked against
  busybox-static                                   # the userland of every test image (/bin/busybox)
  docker-registry                                  # a real distribution registry for pull tests on 127.0.0.1
  docker.io containerd conmon                      # the docker CLI (client only) and the benchmark's peers
  iproute2 iptables uidmap procps tini strace hyperfine git ca-certificates openssl
)

# Debian starts services from postinst scripts (dockerd, the registry). Nothing here may start them:
# dockerd would rewrite the firewall. Hold them off with policy-rc.d unless the machine already does.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"

# The venv uses Debian's python3 (not a per-user build under /root), so the unit tier can run as
# `nobody`, and starts without the global site-packages (its .pth files cost ~30 ms per process).
if [ ! -x .venv/bin/python ]; then /usr/bin/python3 -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# The runtime and the monitor start at every container start: never let them compile their
# modules then (PYTHONDONTWRITEBYTECODE may be set in the environment, so .pyc files would
# otherwise never be written).
.venv/bin/python -m compileall -q -j 0 src

# dockyard-runtime and dockyard-monitor start for every container (and every exec), so their
# launchers skip `site` (-IS, one shebang argument: ~3 ms a start, a third of Python's start-up here) and put the
# package's directory on sys.path themselves. They are stdlib-only, so nothing else is needed.
# A later `pip install` rewrites plain console scripts: run this script again after one.
pkgparent=$(.venv/bin/python -c 'import os, dockyard; print(os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__))))')
write_launcher() {  # <command> <module with main()>
  printf '#!%s -IS\nimport sys\nsys.path.insert(0, "%s")\nfrom %s import main\nsys.exit(main())\n' \
    "$PWD/.venv/bin/python3" "$pkgparent" "$2" > ".venv/bin/$1"
  chmod 755 ".venv/bin/$1"
}
write_launcher dockyard-runtime dockyard.runtime.cli
write_launcher dockyard-monitor dockyard.monitor.main

for cmd in dockyard dockyardd dockyard-runtime dockyard-monitor; do
  ln -sf "$PWD/.venv/bin/$cmd" "/usr/local/bin/$cmd"
done
echo "dockyard installed: $(.venv/bin/dockyard-runtime --version 2>/dev/null | head -n1 || echo '(commands linked in /usr/local/bin)')"
