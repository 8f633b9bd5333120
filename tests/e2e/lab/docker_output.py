"""What docker prints for the lab's steps, computed from the fixtures and checked line by line.

The expectations were taken from the real thing: Debian's ``dockerd`` 20.10 (with containerd and
runc) on the project machine, fed the same fixture images from the same ``docker-registry``, and
driven by the same ``docker`` clients. Where a value depends on the moment (dates, ``/proc``'s
link count) the check leaves it out; everything else must match.

- **Pull progress** without a terminal: ``<tag>: Pulling from <path>``, then per layer (short ID =
  the first 12 hex digits of the compressed blob's digest) ``Pulling fs layer``, ``Verifying
  Checksum``, ``Download complete`` and ``Pull complete`` in that order, or ``Already exists``
  for a layer the daemon has; layers complete in manifest order (extraction is sequential);
  then ``Digest: <manifest or index digest>`` and ``Status: Downloaded newer image for <ref>``.
- **The root listing** of the lab's alpine (``ls -l /`` in a container): ``ROOT_LISTING``.
- **Image size** as dockerd reports it: the sum of the sizes of every non-directory entry with a
  non-zero size (symlinks count with the length of their target), each inode once, over all
  layers (moby ``pkg/directory.Size`` run on each unpacked overlay2 layer).
"""

from __future__ import annotations

import io
import re
import tarfile

from tests.support.oci_layouts import ImageFixture

__all__ = [
    "LISTING_LINE",
    "ROOT_LISTING",
    "check_pull_lines",
    "docker_image_size",
    "listing",
    "short_layer_ids",
]

# `ls -l /` in the lab's alpine under dockerd 20.10 + runc: (mode, links, owner, group, size, name);
# links of proc and sys depend on the host and are None.
ROOT_LISTING = [
    ("drwxr-xr-x", "2", "root", "root", "4096", "bin"),
    ("drwxr-xr-x", "5", "root", "root", "320", "dev"),
    ("drwxr-xr-x", "1", "root", "root", "4096", "etc"),
    ("drwxr-xr-x", "2", "root", "root", "4096", "home"),
    ("lrwxrwxrwx", "1", "root", "root", "12", "linuxrc -> /bin/busybox"),
    ("dr-xr-xr-x", None, "root", "root", "0", "proc"),
    ("drwx------", "2", "root", "root", "4096", "root"),
    ("drwxr-xr-x", "2", "root", "root", "4096", "sbin"),
    ("dr-xr-xr-x", None, "root", "root", "0", "sys"),
    ("drwxrwxrwt", "2", "root", "root", "4096", "tmp"),
    ("drwxr-xr-x", "4", "root", "root", "4096", "usr"),
]

LISTING_LINE = re.compile(
    r"^(?P<mode>[-dlcbps][-rwxsStT]{9})\s+(?P<links>\d+)\s+(?P<owner>\S+)\s+(?P<group>\S+)\s+"
    r"(?P<size>\d+|\d+,\s+\d+)\s+(?P<date>\w{3}\s+\d+\s+(?:\d\d:\d\d|\d{4}))\s(?P<name>.+)$"
)


def listing(text: str) -> list[tuple[str, str | None, str, str, str, str]]:
    """``ls -l`` output as rows like ``ROOT_LISTING`` (the ``total`` line dropped)."""
    rows: list[tuple[str, str | None, str, str, str, str]] = []
    for line in text.splitlines():
        if line.startswith("total ") or not line.strip():
            continue
        match = LISTING_LINE.match(line)
        assert match is not None, f"not an ls -l line: {line!r}"
        links: str | None = match["links"]
        if match["name"] in ("proc", "sys"):
            links = None
        size = re.sub(r",\s+", ",", match["size"])
        rows.append((match["mode"], links, match["owner"], match["group"], size, match["name"]))
    return rows


def short_layer_ids(image: ImageFixture) -> list[str]:
    """The 12-hex IDs docker prints for ``image``'s layers, in manifest order."""
    return [layer.digest.removeprefix("sha256:")[:12] for layer in image.layers]


def _in_order(lines: list[str], wanted: list[str], what: str) -> None:
    position = -1
    for line in wanted:
        try:
            position = lines.index(line, position + 1)
        except ValueError:
            raise AssertionError(
                f"{what}: {line!r} missing or out of order in:\n" + "\n".join(lines)
            ) from None


def check_pull_lines(
    lines: list[str],
    image: ImageFixture,
    *,
    tag: str,
    path: str,
    digest: str,
    reference: str,
    present: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Assert docker's non-terminal pull progress for ``image`` (see the module docstring).

    ``present`` holds the short IDs of layers the daemon already had (``Already exists``).
    """
    layers = short_layer_ids(image)
    _in_order(lines, [f"{tag}: Pulling from {path}"], "header")
    for layer in layers:
        states = ["Already exists"] if layer in present else [
            "Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"
        ]  # fmt: skip
        _in_order(lines, [f"{tag}: Pulling from {path}", *(f"{layer}: {s}" for s in states)], layer)
    fresh = [layer for layer in layers if layer not in present]
    _in_order(lines, [f"{layer}: Pull complete" for layer in fresh], "extraction order")
    tail = [f"Digest: {digest}", f"Status: Downloaded newer image for {reference}"]
    _in_order(lines, [f"{tag}: Pulling from {path}", *tail], "summary")
    last_layer_line = max(i for i, line in enumerate(lines) if line[:12] in layers and line[12:14] == ": ")
    assert lines.index(tail[0]) > last_layer_line, "Digest: before the last layer finished"


def docker_image_size(image: ImageFixture) -> int:
    """dockerd's ``Size`` for ``image`` (moby ``pkg/directory.Size`` over each layer)."""
    total = 0
    for layer in image.layers:
        with tarfile.open(fileobj=io.BytesIO(layer.tar)) as archive:
            for member in archive.getmembers():
                if member.isreg():
                    total += member.size
                elif member.issym():
                    total += len(member.linkname.encode())
                # hard links share their target's inode: counted once, with the target
    return total
