#!/usr/bin/env bash
# Run every test tier, in order, as docs/architecture.md describes: the unit tier as an unprivileged
# user, the static checks, then the root tiers (integration, e2e). Run as root after install.sh.
# Extra arguments go to every pytest invocation (e.g. -x, -k name).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "test.sh: run as root (the integration and e2e tiers need it)" >&2; exit 1; fi
py="$PWD/.venv/bin/python"
export PYTHONDONTWRITEBYTECODE=1

echo "== unit (as nobody)"
runuser -u nobody -- env HOME=/tmp PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest tests/unit -p no:cacheprovider -q "$@"

echo "== checks"
.venv/bin/lint-imports
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy

echo "== integration"
"$py" -m pytest --run-root tests/integration -q -rs -p no:cacheprovider "$@"

echo "== e2e"
"$py" -m pytest --run-root tests/e2e -q -rs -p no:cacheprovider "$@"
