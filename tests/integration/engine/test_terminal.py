"""Terminals are the right size from the first instruction (``run -t``, ``exec -t``).

``docker run -t`` sends ``HostConfig.ConsoleSize`` and ``docker exec -t`` the exec's
``ConsoleSize``; dockerd puts them in the process's ``consoleSize``, so the runtime sizes the
terminal before the process runs. A resize request could only come later: ``stty size`` as the
very first command must already see the client's size.
"""

from __future__ import annotations

import asyncio

from dockyard.engine import ExecConfig, HostConfig
from tests.integration.engine.conftest import Engines, create, output


async def test_run_with_a_tty_starts_at_the_clients_size(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "stty", "size", tty=True, host=HostConfig(console_size=(33, 111)))
    waiter = asyncio.ensure_future(engine.containers.wait(cid, condition="next-exit"))
    await engine.containers.start(cid)
    assert await asyncio.wait_for(waiter, 30) == (0, None)
    assert await output(engine, cid) == b"33 111\r\n"


async def test_exec_with_a_tty_starts_at_the_clients_size(engines: Engines) -> None:
    engine = await engines.open()
    cid = await create(engine, "sleep", "300")
    await engine.containers.start(cid)
    config = ExecConfig(cmd=("stty", "size"), tty=True, attach_stdout=True, console_size=(10, 20))
    exec_id = await engine.execs.create(cid, config)
    session = await engine.execs.start(exec_id, detach=False, console_size=(44, 99))
    assert session is not None
    data = b""
    while chunk := await asyncio.wait_for(session.read(), 30):
        data += chunk
    assert data == b"44 99\r\n"
    assert engine.execs.inspect(exec_id).exit_code == 0
