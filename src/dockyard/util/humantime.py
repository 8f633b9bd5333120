"""Go's ``units.HumanDuration`` (docker/go-units ``duration.go``): "About a minute", "3 weeks".

Docker prints relative times with it in two places, and both must match docker byte for byte:
the daemon's container ``Status`` ("Up 5 seconds", "Exited (0) 2 minutes ago") and the CLI's
CREATED columns ("3 weeks ago"). One implementation serves both rooms.

The rules are go-units', in its order; the first that holds wins. Seconds and minutes are
truncated, hours are rounded to the nearest hour (so 1 h 31 min is "2 hours"), and years are
counted from the truncated hours again. Go's ``int()`` truncates toward zero as Python's does,
so a negative duration (a clock that went backwards) reads "Less than a second", as in docker.

It imports nothing: the CLI's start-up cost is part of every ``dockyard ps``.
"""

from __future__ import annotations

__all__ = ["human_duration"]

_DAY = 24  # hours
_WEEK = 7 * _DAY
_MONTH = 30 * _DAY
_YEAR = 365 * _DAY


def human_duration(seconds: float) -> str:
    """A human approximation of ``seconds``, worded exactly as docker's ``HumanDuration``.

    Examples: ``0.45`` -> "Less than a second", ``1`` -> "1 second", ``60`` -> "About a
    minute", ``5400`` -> "2 hours", ``14 * 86400`` -> "2 weeks".
    """
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 2 * _DAY:
        return f"{hours} hours"
    if hours < 2 * _WEEK:
        return f"{hours // _DAY} days"
    if hours < 2 * _MONTH:
        return f"{hours // _WEEK} weeks"
    if hours < 2 * _YEAR:
        return f"{hours // _MONTH} months"
    return f"{int(seconds / 3600) // _YEAR} years"
