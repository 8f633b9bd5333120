"""The Engine API's Swagger documents (kept in /work/shared/ref), loaded once per session."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

REF = Path("/work/shared/ref")


@functools.cache
def load_spec(version: str) -> dict[str, Any]:
    """``"1.41"`` or ``"1.55"``: the parsed Swagger 2.0 document."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(REF / f"docker-engine-api-v{version}.yaml", encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=loader)
    return document
