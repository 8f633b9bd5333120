#!/usr/bin/env bash
# Show the main job: dockyardd serving the first lab of the tutorials to the docker CLI and to
# dockyard, with a local registry standing in for Docker Hub. Run as root after install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -P scripts/demo.py "$@"
