"""``python -m dockyard.runtime``: the same program as the ``dockyard-runtime`` script."""

from __future__ import annotations

import sys

from dockyard.runtime.cli import main

sys.exit(main())
