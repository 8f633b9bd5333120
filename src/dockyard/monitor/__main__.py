"""``python -m dockyard.monitor``: the same program as ``dockyard-monitor``."""

from __future__ import annotations

import sys

from dockyard.monitor.main import main

sys.exit(main())
