"""The runtime's own failures: a bad command line, an unknown id, an id already taken.

In a module of their own, imported where they are raised: a command that succeeds (``start``,
``delete``, ``kill``, ``state``) then never loads ``dockyard.errors``, whose two dozen classes
cost half a millisecond of every process start (cli.py's essay). Their wording is runc's.
"""

from __future__ import annotations

from dockyard.errors import Conflict, InvalidArgument, NotFound

__all__ = ["ContainerExists", "NoSuchRuntimeContainer", "UsageError"]


class UsageError(InvalidArgument):
    """The command line does not follow the grammar."""


class NoSuchRuntimeContainer(NotFound):
    """No container with this id under the state root."""

    def __init__(self, ident: str) -> None:
        super().__init__(f'container "{ident}" does not exist')


class ContainerExists(Conflict):
    """``create`` with an id that is taken."""

    def __init__(self, ident: str) -> None:
        super().__init__(f"container with id exists: {ident}")
