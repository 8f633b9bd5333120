"""``--change`` instructions for import and commit."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.image.changes import apply_changes


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ('CMD ["nginx", "-g", "daemon off;"]', "Cmd", ["nginx", "-g", "daemon off;"]),
        ("CMD echo hi", "Cmd", ["/bin/sh", "-c", "echo hi"]),
        ('ENTRYPOINT ["/init"]', "Entrypoint", ["/init"]),
        ("ENV PATH=/bin", "Env", ["PATH=/bin"]),
        ("ENV NAME some value", "Env", ["NAME=some value"]),
        ("EXPOSE 80 53/udp", "ExposedPorts", {"80/tcp": {}, "53/udp": {}}),
        ('LABEL a=1 "b c"=2', "Labels", {"a": "1", "b c": "2"}),
        ("USER 1000:1000", "User", "1000:1000"),
        ("WORKDIR /srv", "WorkingDir", "/srv"),
        ("STOPSIGNAL SIGQUIT", "StopSignal", "SIGQUIT"),
        ('VOLUME ["/data", "/logs"]', "Volumes", {"/data": {}, "/logs": {}}),
        ("VOLUME /data /logs", "Volumes", {"/data": {}, "/logs": {}}),
        ("ONBUILD RUN make", "OnBuild", ["RUN make"]),
        ("HEALTHCHECK CMD curl -f localhost", "Healthcheck", {"Test": ["CMD-SHELL", "curl -f localhost"]}),
        ("healthcheck NONE", "Healthcheck", {"Test": ["NONE"]}),
    ],
)
def test_changes(change: str, key: str, value: object) -> None:
    assert apply_changes({}, [change])[key] == value


def test_env_replaces_an_existing_key_and_keeps_order() -> None:
    config = apply_changes({"Env": ["A=1", "B=2"]}, ["ENV A=3"])
    assert config["Env"] == ["B=2", "A=3"]


def test_entrypoint_resets_an_inherited_cmd() -> None:
    assert "Cmd" not in apply_changes({"Cmd": ["sh"]}, ["ENTRYPOINT /init"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN make", "RUN is not a valid change command"),
        ("FROM scratch", "FROM is not a valid change command"),
        ("EXPOSE http", "invalid containerPort: http"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
    ],
)
def test_invalid_changes(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [change])
