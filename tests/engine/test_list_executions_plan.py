"""ListExecutions with a status filter reads the machine's (or Map Run's) own executions,
not every execution with that status: a few runs among many Distributed Map children."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from montemap.engine.db import Database
from montemap.engine.store import ExecutionStore, list_executions_sql

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:main"
CHILDREN = "arn:aws:states:us-east-1:123456789012:stateMachine:main/Map:child"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:main/Map:run1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExecutionStore]:
    db = Database(tmp_path / "m.db", group_commit=False)
    store = ExecutionStore(db)
    rows = []
    # three runs of the main machine, around 2,000 SUCCEEDED children of its Map Run
    for i in range(2003):
        if i in (0, 1000, 2002):
            machine, name, map_run = MACHINE, f"run{i}", None
            status = "RUNNING" if i == 2002 else "SUCCEEDED"
        else:
            machine, name, map_run = CHILDREN, f"child{i}", MAP_RUN
            status = "FAILED" if i % 500 == 0 else "SUCCEEDED"
        rows.append((f"{machine}:{name}", machine, name, status, float(i), map_run))
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO executions (arn, state_machine_arn, state_machine_name, name,"
            " definition, status, start_date, map_run_arn) VALUES (?, ?, 'm', ?, '{}', ?, ?, ?)",
            [(a, m, n, st, d, mr) for a, m, n, st, d, mr in rows],
        )
    yield store
    db.close()


def names(store: ExecutionStore, **query: object) -> list[str]:
    args: dict[str, object] = {
        "state_machine_arn": None,
        "map_run_arn": None,
        "status": None,
        "after_seq": None,
        "limit": 100,
    }
    args.update(query)
    return [r["name"] for r in store.list_executions(**args)]  # type: ignore[arg-type]


def plan(store: ExecutionStore, **query: object) -> str:
    sql, params = list_executions_sql(**query)  # type: ignore[arg-type]
    return " ".join(str(r[-1]) for r in store.db.query("EXPLAIN QUERY PLAN " + sql, params))


def test_pages_hold_the_same_executions_as_before(store: ExecutionStore) -> None:
    assert names(store, state_machine_arn=MACHINE) == ["run2002", "run1000", "run0"]
    assert names(store, state_machine_arn=MACHINE, status="SUCCEEDED") == ["run1000", "run0"]
    assert names(store, state_machine_arn=MACHINE, status="RUNNING") == ["run2002"]
    assert names(store, state_machine_arn=MACHINE, status="SUCCEEDED", limit=1) == ["run1000"]
    assert names(store, state_machine_arn=MACHINE, status="SUCCEEDED", after_seq=1001) == ["run0"]
    failed = names(store, map_run_arn=MAP_RUN, status="FAILED")
    assert failed == ["child2000", "child1500", "child500"]
    assert len(names(store, map_run_arn=MAP_RUN, status="SUCCEEDED", limit=5000)) == 1997


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED"])
def test_a_status_filter_walks_the_machines_or_map_runs_own_index(
    store: ExecutionStore, status: str
) -> None:
    query = {"status": status, "after_seq": None, "limit": 100}
    by_machine = plan(store, state_machine_arn=MACHINE, map_run_arn=None, **query)
    assert "executions_by_machine" in by_machine and "TEMP B-TREE" not in by_machine
    by_map_run = plan(store, state_machine_arn=None, map_run_arn=MAP_RUN, **query)
    assert "executions_by_map_run" in by_map_run and "TEMP B-TREE" not in by_map_run


def test_a_machines_versions_and_aliases_are_walked_on_their_own_index(tmp_path: Path) -> None:
    """Listing a machine with its versions' and aliases' executions merges two walks of
    the machine index: not a read of every top-level execution, and no row twice."""
    db = Database(tmp_path / "q.db", group_commit=False)
    store = ExecutionStore(db)
    other = MACHINE.replace(":main", ":main-2")  # sorts between "main" and "main:"
    targets = [MACHINE, other, MACHINE + ":1", other, MACHINE + ":prod", MACHINE]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO executions (arn, state_machine_arn, state_machine_name, name,"
            " definition, status, start_date) VALUES (?, ?, 'm', ?, '{}', 'SUCCEEDED', ?)",
            [(f"{m}:e{i}", m, f"e{i}", float(i)) for i, m in enumerate(targets)],
        )
    try:
        assert names(store, state_machine_arn=MACHINE, qualified_of=MACHINE) == [
            "e5", "e4", "e2", "e0",
        ]  # fmt: skip
        assert names(store, state_machine_arn=MACHINE, qualified_of=MACHINE, limit=2) == [
            "e5", "e4",
        ]  # fmt: skip
        after = names(
            store, state_machine_arn=MACHINE, qualified_of=MACHINE, after_seq=6
        )  # e5 is seq 6
        assert after == ["e4", "e2", "e0"]
        # a version's listing: its machine's qualified executions, each once
        version = names(store, state_machine_arn=MACHINE + ":1", qualified_of=MACHINE)
        assert version == ["e4", "e2"]
        assert names(store, state_machine_arn=MACHINE) == ["e5", "e0"]
        query = {"map_run_arn": None, "status": "SUCCEEDED", "after_seq": None, "limit": 10}
        walked = plan(store, state_machine_arn=MACHINE, qualified_of=MACHINE, **query)
        assert "executions_by_map_run" not in walked and "executions_by_status" not in walked
    finally:
        db.close()
