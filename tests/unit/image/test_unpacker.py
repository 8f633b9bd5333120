"""The unpacker process: answers, errors, and the request for lower layers."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dockyard.image.compression import LayerFormatError
from dockyard.image.unpack import LowersNeeded, unpack_in_child
from tests.unit.image.services import KEEP
from tests.unit.image.tarfixtures import compress, d, f, h, layer_tar, sha256


def run(data: bytes, root: Path, **kw: object) -> object:
    root.mkdir(exist_ok=True)
    seen: list[int] = []
    result = asyncio.run(
        unpack_in_child(
            io.BytesIO(data),
            root,
            lowers=kw.get("lowers", []),  # type: ignore[arg-type]
            lowers_ready=bool(kw.get("ready", True)),
            options=KEEP,
            progress=seen.append,
        )
    )
    assert seen[-1] == len(data)
    return result


def test_the_child_applies_the_layer_and_reports_its_diff_id(tmp_path: Path) -> None:
    tar = layer_tar([d("etc"), f("etc/os-release", b"ID=test\n")])

    result = run(compress(tar, "zstd"), tmp_path / "layer")

    assert str(result.diff_id) == sha256(tar)  # type: ignore[attr-defined]
    assert result.compression == "zstd"  # type: ignore[attr-defined]
    assert (tmp_path / "layer/etc/os-release").read_bytes() == b"ID=test\n"


def test_a_malformed_layer_is_an_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(LayerFormatError, match="invalid"):
        run(compress(b"not a tar at all" * 100, "gzip"), tmp_path / "layer")


def test_a_hard_link_below_asks_for_the_lower_layers(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "target").write_bytes(b"shared")
    tar = layer_tar([h("link", "target")])

    with pytest.raises(LowersNeeded):
        run(tar, tmp_path / "early", lowers=[lower], ready=False)
    run(tar, tmp_path / "layer", lowers=[lower], ready=True)

    assert (tmp_path / "layer/link").read_bytes() == b"shared"
    assert (tmp_path / "layer/target").read_bytes() == b"shared"  # copied up, then linked
