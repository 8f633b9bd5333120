"""Signal names as Docker spells and parses them (moby ``pkg/signal``, ``ParseSignal``).

``"9"``, ``"KILL"``, ``"SIGKILL"`` and ``"sigkill"`` all name SIGKILL; ``"RTMIN+3"`` names a
real-time signal. Anything else, and 0, is "Invalid signal: <text>".
"""

from __future__ import annotations

import signal

from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_STOP_SIGNAL", "parse_signal", "signal_name"]

DEFAULT_STOP_SIGNAL = signal.SIGTERM

_BY_NAME: dict[str, int] = {
    s.name.removeprefix("SIG"): int(s) for s in signal.Signals if not s.name.startswith("SIG_")
}
for _n in range(1, signal.SIGRTMAX - signal.SIGRTMIN):
    _BY_NAME[f"RTMIN+{_n}"] = signal.SIGRTMIN + _n
    _BY_NAME[f"RTMAX-{_n}"] = signal.SIGRTMAX - _n
_BY_NAME["RTMIN"] = signal.SIGRTMIN
_BY_NAME["RTMAX"] = signal.SIGRTMAX


def parse_signal(text: str) -> int:
    """The signal number ``text`` names.

    Raises:
        InvalidArgument: Docker's "Invalid signal: <text>".
    """
    stripped = text.strip()
    if stripped.isdigit():
        number = int(stripped)
        if 0 < number <= signal.SIGRTMAX:
            return number
        raise InvalidArgument(f"Invalid signal: {text}")
    number_or_none = _BY_NAME.get(stripped.upper().removeprefix("SIG"))
    if number_or_none is None:
        raise InvalidArgument(f"Invalid signal: {text}")
    return number_or_none


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15 (the form events and logs show)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
