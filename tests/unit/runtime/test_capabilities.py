"""Capability names and masks (the privileged calls are exercised by the kernel tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import capabilities
from tests.support.bundles import DEFAULT_CAPS

DOCKER_DEFAULTS = DEFAULT_CAPS


@pytest.fixture
def kernel_knows(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    def set_last(n: int) -> None:
        monkeypatch.setattr(capabilities, "_last_cap", n)

    return set_last


def test_docker_defaults_give_the_mask_docker_shows(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(40)
    assert capabilities.to_mask(DOCKER_DEFAULTS) == 0x00000000A80425FB


def test_every_name_up_to_checkpoint_restore_is_known(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(40)
    assert capabilities.NAMES[40] == "CAP_CHECKPOINT_RESTORE"
    assert capabilities.to_mask(list(capabilities.NAMES)) == (1 << 41) - 1


def test_unknown_name_is_refused_with_its_name(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(40)
    with pytest.raises(InvalidArgument, match=r'^unknown capability "CAP_FOO"$'):
        capabilities.to_mask(["CAP_CHOWN", "CAP_FOO"])


def test_a_name_without_the_prefix_is_not_a_capability(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(40)
    with pytest.raises(InvalidArgument):
        capabilities.to_mask(["CHOWN"])


def test_caps_above_the_kernels_last_cap_are_ignored(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(37)  # a 5.4 kernel: no CAP_PERFMON, CAP_BPF or CAP_CHECKPOINT_RESTORE
    assert capabilities.to_mask(["CAP_BPF", "CAP_AUDIT_READ"]) == 1 << 37


def test_from_mask_inverts_to_mask(kernel_knows: Callable[[int], None]) -> None:
    kernel_knows(40)
    assert sorted(capabilities.from_mask(0xA80425FB)) == sorted(DOCKER_DEFAULTS)


def test_last_cap_reads_the_kernel_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities, "_last_cap", None)
    path = tmp_path / "cap_last_cap"
    path.write_text("38\n")
    assert capabilities.last_cap(str(path)) == 38


def test_last_cap_without_proc_assumes_every_known_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capabilities, "_last_cap", None)
    assert capabilities.last_cap(str(tmp_path / "missing")) == 40
