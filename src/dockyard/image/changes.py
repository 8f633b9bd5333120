"""``--change`` instructions of ``docker import`` (and ``commit``): a Dockerfile subset.

dockerd accepts ``CMD``, ``ENTRYPOINT``, ``ENV``, ``EXPOSE``, ``HEALTHCHECK``, ``LABEL``,
``ONBUILD``, ``STOPSIGNAL``, ``USER``, ``VOLUME`` and ``WORKDIR`` here (moby's
``validCommitCommands``); anything else is ``<word> is not a valid change command``. Each change
is one instruction line applied to the image config's ``config`` object, in order, the way
the builder would apply it: ``CMD``/``ENTRYPOINT`` in shell form become ``/bin/sh -c``, ``ENV``
and ``LABEL`` take ``k=v`` pairs (or the legacy ``ENV k v``), ``EXPOSE 80`` means ``80/tcp``.

The image room cannot use the builder's parser (the builder sits above the engine), so this is
a deliberately small one: no line continuations, no variable expansion.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from dockyard.errors import InvalidArgument
from dockyard.util import jsoncodec

__all__ = ["VALID_CHANGE_COMMANDS", "apply_changes"]

VALID_CHANGE_COMMANDS = frozenset(
    {
        "cmd",
        "entrypoint",
        "env",
        "expose",
        "healthcheck",
        "label",
        "onbuild",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)


def apply_changes(config: dict[str, object], changes: list[str]) -> dict[str, object]:
    """Return a copy of the ``config`` object with ``changes`` applied in order.

    Raises:
        InvalidArgument: an unknown instruction or a malformed argument (Docker's wording where
            it has one).
    """
    result = dict(config)
    for change in changes:
        line = change.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        command = word.lower()
        if command not in VALID_CHANGE_COMMANDS:
            raise InvalidArgument(f"{word} is not a valid change command")
        _APPLY[command](result, rest.strip())
    return result


def _json_or_shell(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = jsoncodec.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
    return ["/bin/sh", "-c", rest]


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise InvalidArgument(f"invalid change: {rest}: {exc}") from exc


def _pairs(command: str, rest: str) -> list[tuple[str, str]]:
    words = _words(rest)
    if not words:
        raise InvalidArgument(f"{command} requires at least one argument")
    if "=" not in words[0]:
        if command == "ENV" and len(words) >= 2:  # legacy form: ENV key value with spaces
            return [(words[0], rest.strip().split(None, 1)[1])]
        raise InvalidArgument(
            f"{command} names can not be blank" if not words[0] else f"{command} requires key=value"
        )
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{command} names can not be blank")
        pairs.append((key, value))
    return pairs


def _cmd(config: dict[str, object], rest: str) -> None:
    config["Cmd"] = _json_or_shell(rest)


def _entrypoint(config: dict[str, object], rest: str) -> None:
    config["Entrypoint"] = _json_or_shell(rest)
    config.pop("Cmd", None)  # as the builder: a new ENTRYPOINT resets an inherited CMD


def _env(config: dict[str, object], rest: str) -> None:
    env = [str(e) for e in config.get("Env") or []]  # type: ignore[attr-defined]
    for key, value in _pairs("ENV", rest):
        env = [e for e in env if e.split("=", 1)[0] != key]
        env.append(f"{key}={value}")
    config["Env"] = env


def _label(config: dict[str, object], rest: str) -> None:
    labels = dict(config.get("Labels") or {})  # type: ignore[call-overload]
    labels.update(_pairs("LABEL", rest))
    config["Labels"] = labels


def _expose(config: dict[str, object], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})  # type: ignore[call-overload]
    for word in _words(rest):
        port = word if "/" in word else f"{word}/tcp"
        number = port.split("/", 1)[0]
        if not number.replace("-", "").isdigit():
            raise InvalidArgument(f"invalid containerPort: {number}")
        ports[port.lower()] = {}
    config["ExposedPorts"] = ports


def _volume(config: dict[str, object], rest: str) -> None:
    volumes = dict(config.get("Volumes") or {})  # type: ignore[call-overload]
    paths = _json_or_shell(rest) if rest.startswith("[") else _words(rest)
    if paths[:2] == ["/bin/sh", "-c"]:
        paths = _words(rest)
    for path in paths:
        if not path:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _single(key: str, command: str) -> Callable[[dict[str, object], str], None]:
    def apply(config: dict[str, object], rest: str) -> None:
        if not rest:
            raise InvalidArgument(f"{command} requires exactly one argument")
        config[key] = rest

    return apply


def _onbuild(config: dict[str, object], rest: str) -> None:
    triggers = [str(t) for t in config.get("OnBuild") or []]  # type: ignore[attr-defined]
    triggers.append(rest)
    config["OnBuild"] = triggers


def _healthcheck(config: dict[str, object], rest: str) -> None:
    words = _words(rest)
    if words[:1] == ["NONE"]:
        config["Healthcheck"] = {"Test": ["NONE"]}
        return
    if words[:1] != ["CMD"]:
        raise InvalidArgument("HEALTHCHECK requires CMD or NONE")
    command = rest.strip()[3:].strip()
    test = _json_or_shell(command)
    config["Healthcheck"] = {"Test": ["CMD", *test] if command.startswith("[") else ["CMD-SHELL", command]}


_APPLY: dict[str, Callable[[dict[str, object], str], None]] = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "label": _label,
    "expose": _expose,
    "volume": _volume,
    "user": _single("User", "USER"),
    "workdir": _single("WorkingDir", "WORKDIR"),
    "stopsignal": _single("StopSignal", "STOPSIGNAL"),
    "onbuild": _onbuild,
    "healthcheck": _healthcheck,
}
