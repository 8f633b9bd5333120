"""monitor.attach: written by the monitor work (issue #2)."""

from __future__ import annotations
