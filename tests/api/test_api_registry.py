"""The registry of state machines, versions and tags, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from montemap.api.registry import NewStateMachine, Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database

from .helpers import PASS_DEFINITION, ROLE_ARN


class FakeClock:
    """A settable clock (the registry takes any ``() -> datetime``)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def new(name: str = "m", **kwargs: Any) -> NewStateMachine:
    return NewStateMachine(name=name, definition=PASS_DEFINITION, role_arn=ROLE_ARN, **kwargs)


def test_insert_and_get(registry: Registry) -> None:
    machine, version = registry.insert_state_machine(new("alpha"), tags={"k": "v"})
    assert version is None
    assert machine.arn == "arn:aws:states:us-east-1:123456789012:stateMachine:alpha"
    assert registry.get_state_machine(machine.arn) == machine
    assert registry.get_state_machine_by_name("alpha") == machine
    assert machine.revision_id is None
    assert machine.logging_configuration == {"level": "OFF", "includeExecutionData": False}
    assert registry.tags(machine.arn) == {"k": "v"}
    ref = machine.ref()
    assert (ref.arn, ref.name, ref.definition, ref.role_arn) == (
        machine.arn,
        "alpha",
        PASS_DEFINITION,
        ROLE_ARN,
    )


def test_list_is_sorted_by_name(registry: Registry) -> None:
    for name in ["b", "a", "c"]:
        registry.insert_state_machine(new(name), tags={})
    assert [m.name for m in registry.list_state_machines()] == ["a", "b", "c"]


def test_update_revisions(database: Database) -> None:
    clock = FakeClock()
    registry = Registry(database, arns=ArnFactory(), clock=clock)
    machine, _ = registry.insert_state_machine(new(), tags={})
    clock.now += timedelta(seconds=5)
    changed = registry.update_state_machine(machine.arn, definition=PASS_DEFINITION + " ")
    assert changed.revision_id is not None
    assert changed.update_date == clock.now.timestamp()
    assert changed.creation_date == machine.creation_date
    same = registry.update_state_machine(machine.arn, definition=PASS_DEFINITION + " ")
    assert same.revision_id == changed.revision_id
    traced = registry.update_state_machine(machine.arn, tracing_configuration={"enabled": True})
    assert traced.revision_id != changed.revision_id
    assert traced.tracing_configuration == {"enabled": True}


def test_versions_are_numbered_and_snapshotted(registry: Registry) -> None:
    machine, first = registry.insert_state_machine(
        new(publish=True, version_description="v1"), tags={}
    )
    assert first is not None
    assert (first.arn, first.version, first.description) == (f"{machine.arn}:1", 1, "v1")
    updated = registry.update_state_machine(machine.arn, definition=PASS_DEFINITION + "\n")
    second = registry.publish(updated, None)
    assert second.arn == f"{machine.arn}:2"
    assert registry.get_version(first.arn) == first
    assert registry.latest_version(machine.arn) == second
    assert first.ref().definition == PASS_DEFINITION
    assert second.ref().definition == PASS_DEFINITION + "\n"
    assert second.ref().name == machine.name


def test_delete_removes_versions_and_tags(registry: Registry) -> None:
    machine, version = registry.insert_state_machine(new(publish=True), tags={"a": "1"})
    assert version is not None
    registry.tag(version.arn, {"stale": "x"})
    registry.delete_state_machine(machine.arn)
    assert registry.get_state_machine(machine.arn) is None
    assert registry.get_version(version.arn) is None
    assert registry.tags(machine.arn) == {}
    assert registry.tags(version.arn) == {}
    registry.delete_state_machine(machine.arn)  # absent: no error


def test_tags_keep_first_insertion_order(registry: Registry) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:activity:a"
    registry.tag(arn, {"b": "1", "a": "2"})
    registry.tag(arn, {"b": "3", "c": "4"})
    assert list(registry.tags(arn).items()) == [("b", "3"), ("a", "2"), ("c", "4")]
    registry.untag(arn, ["a", "missing"])
    assert registry.tags(arn) == {"b": "3", "c": "4"}


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "montemap.db"
    first = Database(path)
    machine, _ = Registry(first, arns=ArnFactory()).insert_state_machine(new(), tags={"k": "v"})
    first.close()
    second = Database(path)
    try:
        registry = Registry(second, arns=ArnFactory())
        assert registry.get_state_machine(machine.arn) == machine
        assert registry.tags(machine.arn) == {"k": "v"}
    finally:
        second.close()
