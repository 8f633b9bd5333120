"""Seccomp through the whole start path: specgen, the bundle, the runtime, the kernel.

What the container sees is the proof: ``Seccomp:`` in ``/proc/self/status`` (0 none, 2 filter)
and whether a syscall the profile denies fails.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from dockyard.engine import Engine, HostConfig
from tests.integration.engine.conftest import Engines, create, output

DENY_MKDIR = json.dumps(
    {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
)
PROBE = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/dyt-probe && echo made"


async def _run(engine: Engine, host: HostConfig) -> str:
    cid = await create(engine, "sh", "-c", PROBE, host=host)
    waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
    await engine.containers.start(cid)
    await asyncio.wait_for(waiter, 30)
    return (await output(engine, cid)).decode()


@pytest.mark.parametrize("privileged", [False, True], ids=["plain", "privileged"])
async def test_a_custom_profile_is_enforced_privileged_or_not(engines: Engines, privileged: bool) -> None:
    engine = await engines.open()
    seen = await _run(engine, HostConfig(privileged=privileged, security_opt=(f"seccomp={DENY_MKDIR}",)))
    assert "Seccomp:\t2" in seen
    assert "Operation not permitted" in seen
    assert "made" not in seen


@pytest.mark.parametrize(
    ("security_opt", "privileged"),
    [
        pytest.param(("seccomp={}",), False, id="empty-profile"),
        pytest.param(("seccomp=unconfined",), False, id="unconfined"),
        pytest.param((), True, id="privileged-default"),
    ],
)
async def test_no_filter_at_all(engines1: Engines, security_opt: tuple[str, ...], privileged: bool) -> None:
    engine = await engines1.open()
    seen = await _run(engine, HostConfig(privileged=privileged, security_opt=security_opt))
    assert "Seccomp:\t0" in seen
    assert "made" in seen


async def test_the_default_profile_filters(engines1: Engines) -> None:
    engine = await engines1.open()
    seen = await _run(engine, HostConfig())
    assert "Seccomp:\t2" in seen
    assert "made" in seen
