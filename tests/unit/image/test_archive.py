"""Applying layer tars: content, metadata, diff IDs, bounds, and the breakout corpus (as nobody)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.image.archive import ApplyOptions, apply_layer, clean_name, tree_size
from dockyard.image.compression import LayerFormatError
from tests.unit.image.tarfixtures import BREAKOUTS, Breakout, Entry, compress, d, f, h, layer_tar, s, sha256

KEEP = ApplyOptions(whiteouts="keep", privileged=False)


def apply(data: bytes, root: Path, options: ApplyOptions = KEEP):  # type: ignore[no-untyped-def]
    root.mkdir(exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return apply_layer(io.BytesIO(data), fd, options=options)
    finally:
        os.close(fd)


def tree(root: Path) -> dict[str, tuple[int, int, float, bytes | str]]:
    """Every path under ``root`` with (mode, size, mtime, content or link target)."""
    out: dict[str, tuple[int, int, float, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                content: bytes | str = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                content = p.read_bytes()
            else:
                content = ""
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime, content)
    return out


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [("a/b", "a/b"), ("/a/b/", "a/b"), ("../../a", "a"), ("./a/./b/../c", "a/c"), ("..", ""), ("/", "")],
)
def test_clean_name_never_climbs_above_root(name: str, cleaned: str) -> None:
    assert clean_name(name) == cleaned


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd", "xz", "bzip2"])
def test_apply_writes_files_and_reports_the_uncompressed_digest(tmp_path: Path, kind: str) -> None:
    plain = layer_tar([d("etc"), f("etc/hosts", b"127.0.0.1 localhost\n"), s("lnk", "etc/hosts")])

    result = apply(compress(plain, kind), tmp_path / "layer")

    assert str(result.diff_id) == sha256(plain)
    assert result.compression == kind
    assert result.uncompressed == len(plain)
    assert (tmp_path / "layer/etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert os.readlink(tmp_path / "layer/lnk") == "etc/hosts"


def test_diff_id_covers_padding_after_the_end_of_archive(tmp_path: Path) -> None:
    plain = layer_tar([f("a", b"1")], padding=10240)

    result = apply(compress(plain, "gzip"), tmp_path / "layer")

    assert str(result.diff_id) == sha256(plain)


def test_metadata_is_applied(tmp_path: Path) -> None:
    data = layer_tar(
        [
            d("dir", mode=0o750, mtime=1_000_000_000),
            f("dir/exe", b"#!", mode=0o755, mtime=1_100_000_000, xattrs={"user.tag": "v"}),
        ]
    )

    apply(data, tmp_path / "layer")

    exe = tmp_path / "layer/dir/exe"
    assert stat.S_IMODE(exe.stat().st_mode) == 0o755
    assert exe.stat().st_mtime == 1_100_000_000
    assert stat.S_IMODE((tmp_path / "layer/dir").stat().st_mode) == 0o750
    assert (tmp_path / "layer/dir").stat().st_mtime == 1_000_000_000  # set after its children
    try:
        assert os.getxattr(exe, "user.tag") == b"v"
    except OSError:
        pytest.skip("this filesystem has no user xattrs")


def test_size_counts_hard_links_once(tmp_path: Path) -> None:
    result = apply(layer_tar([f("a", b"12345"), h("b", "a")]), tmp_path / "layer")

    assert result.size == 5
    assert (tmp_path / "layer/a").stat().st_ino == (tmp_path / "layer/b").stat().st_ino


SIZE_CASES = [
    # id, entries, dockerd's size (moby directory.Size of the unpacked layer)
    ("files", [f("a", b"12345"), f("b", b"")], 5),
    ("symlink-counts-its-target", [f("a", b"12345"), s("l", "a"), s("abs", "/usr/lib/x")], 5 + 1 + 10),
    ("utf8-symlink-target", [s("l", "caf\u00e9")], 5),
    ("hard-link-once", [f("a", b"12345"), h("b", "a"), h("c", "b")], 5),
    ("hard-link-to-symlink", [s("l", "target"), h("m", "l")], 6),
    ("directories-count-nothing", [d("x"), d("x/y"), f("x/y/z", b"1")], 1),
    ("overwritten-file", [f("a", b"123456789"), f("a", b"12")], 2),
    ("file-replaced-by-symlink", [f("a", b"123456789"), s("a", "bb")], 2),
    ("directory-replaced-by-file", [d("x"), f("x/inner", b"1234"), f("x", b"12")], 2),
    ("linked-file-overwritten", [f("a", b"12345"), h("b", "a"), f("a", b"1")], 5 + 1),
]  # fmt: skip


@pytest.mark.parametrize(("entries", "size"), [c[1:] for c in SIZE_CASES], ids=[c[0] for c in SIZE_CASES])
def test_size_is_what_dockerd_measures_on_disk(tmp_path: Path, entries: list[Entry], size: int) -> None:
    result = apply(layer_tar(entries), tmp_path / "layer")

    assert result.size == size
    fd = os.open(tmp_path / "layer", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert tree_size(fd) == size  # kept as it went, or measured: the same rule
    finally:
        os.close(fd)


def test_a_later_entry_replaces_an_earlier_one(tmp_path: Path) -> None:
    apply(layer_tar([d("x"), f("x/inner", b"1"), f("x", b"file now")]), tmp_path / "layer")

    assert (tmp_path / "layer/x").read_bytes() == b"file now"


def test_oversized_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 4 << 30  # tarfile would try to read 4 GiB into memory
    raw = header.tobuf(tarfile.USTAR_FORMAT)

    with pytest.raises(LayerFormatError, match="larger than"):
        apply(raw + b"\0" * 2048, tmp_path / "layer")


def test_decompressed_size_is_capped(tmp_path: Path) -> None:
    bomb = compress(layer_tar([f("zeros", b"\0" * (4 << 20))]), "gzip")

    with pytest.raises(LayerFormatError, match="limit"):
        apply(bomb, tmp_path / "layer", ApplyOptions(whiteouts="keep", privileged=False, max_bytes=1 << 20))


def test_garbage_after_a_gzip_stream_is_refused(tmp_path: Path) -> None:
    data = compress(layer_tar([f("a")]), "gzip") + b"trailing junk"

    with pytest.raises(LayerFormatError, match="trailing"):
        apply(data, tmp_path / "layer")


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = compress(layer_tar([f("a", os.urandom(4096))]), "gzip")

    with pytest.raises(LayerFormatError):
        apply(data[: len(data) // 2], tmp_path / "layer")


def test_sparse_members_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    raw = info.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024

    with pytest.raises(LayerFormatError, match="sparse"):
        apply(raw, tmp_path / "layer")


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    plain = layer_tar([f("a", b"x" * 1000)])
    data = compress(plain[:700], "gzip") + compress(plain[700:], "gzip")

    result = apply(data, tmp_path / "layer")

    assert str(result.diff_id) == sha256(plain)


def _outside_snapshot(tmp_path: Path) -> dict[str, tuple[int, int, float, bytes | str]]:
    return {k: v for k, v in tree(tmp_path).items() if not k.startswith("layer")}


def _host_files() -> dict[str, tuple[str, int]]:
    out = {}
    for name in ("/etc/passwd", "/etc/hostname"):
        p = Path(name)
        out[name] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
    return out


@pytest.mark.parametrize("case", BREAKOUTS, ids=lambda c: c.name)
def test_breakout_corpus(tmp_path: Path, case: Breakout) -> None:
    for name in ("etc", "tmp", "tmp/outside"):
        (tmp_path / name).mkdir(exist_ok=True)
    (tmp_path / "victim").write_text("canary")
    (tmp_path / "etc/passwd").write_text("canary")
    before, host = _outside_snapshot(tmp_path), _host_files()
    data = layer_tar(case.entries)

    if case.error:
        with pytest.raises(LayerFormatError):
            apply(data, tmp_path / "layer")
    else:
        apply(data, tmp_path / "layer")
        for path, expected in case.files.items():
            target = tmp_path / "layer" / path
            assert target.is_symlink() or target.exists(), path
            if expected is not None and expected.startswith("->"):
                assert os.readlink(target) == expected[2:]
            elif expected is not None:
                assert not target.is_symlink()
                assert target.read_text() == expected

    assert _outside_snapshot(tmp_path) == before
    assert _host_files() == host
