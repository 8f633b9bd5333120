"""Run a helper program: argv list, never a shell, always a timeout, stderr kept for the error.

Daemon-side only (it imports ``subprocess``, which the runtime and the monitor cannot afford).
Failures become ``SystemFailure`` with the program's own last words, so an error names what
failed and why without a second log line.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping, Sequence

from dockyard.errors import SystemFailure

__all__ = ["ProcessFailed", "run", "run_async"]


class ProcessFailed(SystemFailure):
    """A helper program exited non-zero, timed out, or could not be started."""

    def __init__(self, argv: Sequence[str], message: str, *, status: int | None = None) -> None:
        super().__init__(f"{argv[0]}: {message}")
        self.argv = list(argv)
        self.status = status


def _last_words(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else ""


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` to completion and return its result (stdout and stderr captured).

    Raises:
        ProcessFailed: the program is missing, timed out, or (with ``check``) exited non-zero.
    """
    try:
        result = subprocess.run(
            list(argv), input=input, capture_output=True, timeout=timeout, env=env, check=False
        )
    except FileNotFoundError as exc:
        raise ProcessFailed(argv, "not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise ProcessFailed(argv, f"timed out after {timeout:g}s") from exc
    if check and result.returncode != 0:
        words = _last_words(result.stderr) or f"exit status {result.returncode}"
        raise ProcessFailed(argv, words, status=result.returncode)
    return result


async def run_async(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> tuple[int, bytes, bytes]:
    """``run`` for the event loop: returns (status, stdout, stderr).

    Raises:
        ProcessFailed: as ``run``; a timed-out program is killed and reaped.
    """
    try:
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError as exc:
        raise ProcessFailed(argv, "not found") from exc
    try:
        out, err = await asyncio.wait_for(child.communicate(input), timeout)
    except TimeoutError as exc:
        child.kill()
        await child.wait()
        raise ProcessFailed(argv, f"timed out after {timeout:g}s") from exc
    status = child.returncode if child.returncode is not None else -1
    if check and status != 0:
        raise ProcessFailed(argv, _last_words(err) or f"exit status {status}", status=status)
    return status, out, err
