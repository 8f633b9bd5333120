"""Where the shared reference documents are: ``../shared/ref`` beside the checkout.

CI runs a clean clone with ``shared/`` beside it (wherever the clone is), so nothing may name an
absolute path. ``DOCKYARD_SHARED_REF`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REF"]

_CHECKOUT = Path(__file__).resolve().parents[2]

REF = Path(os.environ.get("DOCKYARD_SHARED_REF") or _CHECKOUT.parent / "shared" / "ref")
"""The directory holding docker-engine-api-v1.41.yaml, -v1.55.yaml and the other references."""
