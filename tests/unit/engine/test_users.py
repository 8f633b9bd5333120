"""User resolution against the container's own files, including hostile ones."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockyard.engine.users import MAX_USER_FILE, ResolvedUser, resolve_in_rootfs, resolve_user
from dockyard.errors import InvalidArgument

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbad:line\n"
GROUP = "root:x:0:\nwheel:x:10:app,other\napp:x:1000:\nstaff:x:50:app\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("", ResolvedUser(uid=0, gid=0, home="/root"), id="default-root"),
        pytest.param(
            "app", ResolvedUser(uid=1000, gid=1000, additional_gids=(10, 50), home="/home/app"), id="name"
        ),
        pytest.param(
            "1000", ResolvedUser(uid=1000, gid=1000, additional_gids=(10, 50), home="/home/app"), id="uid"
        ),
        pytest.param("app:staff", ResolvedUser(uid=1000, gid=50, home="/home/app"), id="name-group"),
        pytest.param("1000:7", ResolvedUser(uid=1000, gid=7, home="/home/app"), id="uid-gid"),
        pytest.param("4242", ResolvedUser(uid=4242, gid=0, home="/"), id="unknown-uid-runs-with-gid-0"),
        pytest.param("2147483647", ResolvedUser(uid=2147483647, gid=0, home="/"), id="max-uid"),
    ],
)
def test_user_specs_resolve_like_runc(spec: str, expected: ResolvedUser) -> None:
    assert resolve_user(spec, PASSWD, GROUP) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("2147483648", "uids and gids must be in range 0-2147483647", id="above-int32"),
        pytest.param("4294967295", "uids and gids must be in range 0-2147483647", id="minus-one-as-uint"),
        pytest.param("4294967296", "uids and gids must be in range 0-2147483647", id="wraps-to-zero"),
        pytest.param("-1", "uids and gids must be in range 0-2147483647", id="negative"),
        pytest.param("1000:-5", "uids and gids must be in range 0-2147483647", id="negative-gid"),
        pytest.param("0x10", "unable to find user 0x10: no matching entries in passwd file", id="hex"),
        pytest.param(
            "ghost", "unable to find user ghost: no matching entries in passwd file", id="unknown-name"
        ),
        pytest.param(
            "app:ghosts", "unable to find group ghosts: no matching entries in group file", id="unknown-group"
        ),
    ],
)
def test_bad_user_specs_are_errors_never_root(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve_user(spec, PASSWD, GROUP)
    assert str(info.value) == message


def test_group_add_appends_names_and_numbers() -> None:
    user = resolve_user("app", PASSWD, GROUP, group_add=("root", "77"))
    assert user.additional_gids == (10, 50, 0, 77)


def test_missing_files_allow_numeric_ids_only() -> None:
    assert resolve_user("5:6", None, None) == ResolvedUser(uid=5, gid=6, home="/")
    with pytest.raises(InvalidArgument):
        resolve_user("app", None, None)


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    return root


def test_files_are_read_inside_the_root(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    assert resolve_in_rootfs(str(root), "app").uid == 1000


def test_an_absolute_symlink_resolves_inside_the_root_not_the_host(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    host = tmp_path / "host-passwd"
    host.write_text("app:x:0:0::/:/bin/sh\n")  # would make "app" root if followed on the host
    (root / "elsewhere").write_text(PASSWD)
    os.symlink(str(host), root / "etc" / "passwd")
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_in_rootfs(str(root), "app")
    os.unlink(root / "etc" / "passwd")
    os.symlink("../../../../elsewhere", root / "etc" / "passwd")
    assert resolve_in_rootfs(str(root), "app").uid == 1000


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    os.mkfifo(root / "etc" / "passwd")
    started = time.monotonic()
    with pytest.raises(InvalidArgument, match="not a regular file"):
        resolve_in_rootfs(str(root), "app")
    assert time.monotonic() - started < 2


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    (root / "dev").mkdir()
    os.symlink("/dev/zero", root / "etc" / "passwd")
    # Inside the root /dev/zero does not exist: the file counts as missing, numeric ids still work.
    assert resolve_in_rootfs(str(root), "7").uid == 7
    with pytest.raises(InvalidArgument):
        resolve_in_rootfs(str(root), "app")


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    with open(root / "etc" / "passwd", "wb") as f:
        f.truncate(MAX_USER_FILE + 1)
    with pytest.raises(InvalidArgument, match="larger than"):
        resolve_in_rootfs(str(root), "app")
