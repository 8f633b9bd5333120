"""``dockyardd``: flags, logging, pid file and signals; builds the Engine and serves the API."""

from __future__ import annotations
