from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dockyard.engine.container import ContainerState, ContainerStatus
from dockyard.engine.execs import ExecConfig, ExecSession
from dockyard.engine.store import ContainerNotes, ContainerStore
from dockyard.errors import InvalidArgument, NameInUse, NoSuchContainer, NoSuchExec
from dockyard.util.db import Database
from tests.support.engine_fakes import make_container


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "state.db")


@pytest.fixture
def store(db: Database) -> ContainerStore:
    return ContainerStore(db)


def test_lookup_by_full_id_name_slash_name_and_prefix(store: ContainerStore) -> None:
    c = make_container(name="web", container_id="abc" + "0" * 61)
    store.add(c, ContainerNotes())
    for ref in (c.id, "web", "/web", "abc", c.id[:12]):
        assert store.get(ref) == c


def test_an_exact_name_wins_over_an_id_prefix(store: ContainerStore) -> None:
    a = make_container(name="other", container_id="beef" + "0" * 60)
    b = make_container(name="beef", container_id="1" * 64)
    store.add(a, ContainerNotes())
    store.add(b, ContainerNotes())
    assert store.get("beef") == b


def test_an_ambiguous_prefix_is_dockers_error(store: ContainerStore) -> None:
    store.add(make_container(name="a", container_id="ab1" + "0" * 61), ContainerNotes())
    store.add(make_container(name="b", container_id="ab2" + "0" * 61), ContainerNotes())
    with pytest.raises(InvalidArgument, match=r"^multiple IDs found with provided prefix: ab$"):
        store.get("ab")


@pytest.mark.parametrize("ref", ["nope", "", "fff", "/"])
def test_unknown_refs_are_no_such_container(store: ContainerStore, ref: str) -> None:
    store.add(make_container(name="web", container_id="a" * 64), ContainerNotes())
    with pytest.raises(NoSuchContainer) as info:
        store.get(ref)
    assert str(info.value) == f"No such container: {ref}"


def test_a_taken_name_is_refused_with_the_holder_named(store: ContainerStore) -> None:
    first = make_container(name="web")
    store.add(first, ContainerNotes())
    with pytest.raises(NameInUse) as info:
        store.add(make_container(name="web"), ContainerNotes())
    assert f'by container "{first.id}"' in str(info.value)
    assert len(store) == 1


def test_records_survive_reopening_the_database(db: Database, tmp_path: Path) -> None:
    store = ContainerStore(db)
    c = make_container(name="web")
    store.add(c, ContainerNotes(creating=True))
    running = dataclasses.replace(c, state=ContainerState(status=ContainerStatus.RUNNING, pid=42))
    store.update(running, ContainerNotes(started_before=True, task_id=c.id))
    db.close()
    again = ContainerStore(Database(tmp_path / "state.db"))
    assert again.get("web") == running
    assert again.notes(c.id) == ContainerNotes(started_before=True, task_id=c.id)


def test_rename_frees_the_old_name_and_takes_the_new(store: ContainerStore) -> None:
    c = make_container(name="old")
    store.add(c, ContainerNotes())
    store.rename(c, "new")
    assert store.get("new").id == c.id
    with pytest.raises(NoSuchContainer):
        store.get("old")
    store.add(make_container(name="old"), ContainerNotes())


def test_rename_to_a_taken_name_changes_nothing(store: ContainerStore) -> None:
    a, b = make_container(name="a"), make_container(name="b")
    store.add(a, ContainerNotes())
    store.add(b, ContainerNotes())
    with pytest.raises(NameInUse):
        store.rename(a, "b")
    assert store.get("a").id == a.id
    assert store.get("b").id == b.id


def test_remove_frees_the_name_and_drops_exec_sessions(store: ContainerStore) -> None:
    c = make_container(name="web")
    store.add(c, ContainerNotes())
    store.put_exec(
        ExecSession(
            id="e" * 64,
            container_id=c.id,
            config=ExecConfig(cmd=("ls",)),
            running=False,
            exit_code=None,
            pid=0,
        )
    )
    store.remove(c.id)
    with pytest.raises(NoSuchExec):
        store.get_exec("e" * 64)
    store.add(make_container(name="web"), ContainerNotes())


def test_exec_sessions_are_updated_in_place(store: ContainerStore) -> None:
    c = make_container(name="web")
    store.add(c, ContainerNotes())
    session = ExecSession(
        id="1" * 64,
        container_id=c.id,
        config=ExecConfig(cmd=("ls",), tty=True),
        running=True,
        exit_code=None,
        pid=7,
    )
    store.put_exec(session)
    store.put_exec(dataclasses.replace(session, running=False, exit_code=3))
    assert store.get_exec("1" * 64).exit_code == 3
    assert [s.id for s in store.execs_of(c.id)] == ["1" * 64]


def test_a_list_is_a_snapshot_that_later_writes_do_not_change(store: ContainerStore) -> None:
    store.add(make_container(name="a"), ContainerNotes())
    snapshot = store.all()
    store.add(make_container(name="b"), ContainerNotes())
    assert [c.name for c in snapshot] == ["a"]
