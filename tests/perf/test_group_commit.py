"""Group commit in :class:`~montemap.engine.db.Database`: what is committed, and when."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from montemap.engine import db as db_module
from montemap.engine.db import Database, committed

SCHEMA = "CREATE TABLE IF NOT EXISTS t (v INTEGER NOT NULL UNIQUE);"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "g.db")
    database.migrate(SCHEMA)
    yield database
    database.close()


def durable_values(path: str) -> list[int]:
    """What another connection (or a restarted process) would find."""
    other = sqlite3.connect(path)
    try:
        return [v for (v,) in other.execute("SELECT v FROM t ORDER BY v")]
    finally:
        other.close()


def test_outside_a_loop_each_transaction_commits_before_returning(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    assert not database.pending
    assert durable_values(database.path) == [1]


def test_in_a_loop_transactions_share_one_commit_awaited_before_acknowledging(
    database: Database,
) -> None:
    async def scenario() -> None:
        before = database.commits
        for v in (1, 2, 3):
            with database.transaction() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (v,))
        database.statement("INSERT INTO t VALUES (4)")
        # Visible on this connection at once, not yet durable.
        assert [r[0] for r in database.query("SELECT v FROM t ORDER BY v")] == [1, 2, 3, 4]
        assert database.pending
        assert durable_values(database.path) == []
        await committed()
        assert durable_values(database.path) == [1, 2, 3, 4]
        assert database.commits == before + 1

    asyncio.run(scenario())


def test_the_group_commits_when_the_loop_turn_ends_without_anyone_waiting(
    database: Database,
) -> None:
    async def scenario() -> None:
        with database.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (7)")
        while database.pending:
            await asyncio.sleep(0)
        assert durable_values(database.path) == [7]

    asyncio.run(scenario())


def test_a_failed_transaction_in_a_group_rolls_back_alone(database: Database) -> None:
    async def scenario() -> None:
        with database.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError), database.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
        with pytest.raises(sqlite3.IntegrityError):
            database.statement("INSERT INTO t VALUES (1)")  # a failed statement undoes itself
        with database.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (3)")
        await committed()
        assert durable_values(database.path) == [1, 3]

    asyncio.run(scenario())


def test_nested_transactions_join_the_outer_one(database: Database) -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError), database.transaction() as outer:
            outer.execute("INSERT INTO t VALUES (1)")
            with database.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
        await committed()
        assert durable_values(database.path) == []

    asyncio.run(scenario())


def test_commit_hooks_write_inside_the_committing_transaction(database: Database) -> None:
    pending: list[int] = []

    def hook(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in pending])
        pending.clear()

    database.add_commit_hook(hook)

    async def scenario() -> None:
        pending.extend([5, 6])
        database.touch()
        assert durable_values(database.path) == []
        await committed()
        assert durable_values(database.path) == [5, 6]

    asyncio.run(scenario())
    pending.append(8)
    database.touch()  # no loop: commits (with its hooks) at once
    assert durable_values(database.path) == [5, 6, 8]


def test_close_commits_what_is_pending(tmp_path: Path) -> None:
    database = Database(tmp_path / "c.db")
    database.migrate(SCHEMA)

    async def scenario() -> None:
        database.statement("INSERT INTO t VALUES (9)")
        database.close()

    asyncio.run(scenario())
    assert durable_values(str(tmp_path / "c.db")) == [9]


def test_checkpoints_run_off_the_loop_and_keep_every_commit(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 4)

    async def scenario() -> None:
        for v in range(40):
            database.statement("INSERT INTO t VALUES (?)", (v,))
            await committed()
        while database.checkpoints == 0 or database.checkpointing:
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert database.checkpoints >= 1
    assert durable_values(database.path) == list(range(40))


def test_group_commit_can_be_turned_off(tmp_path: Path) -> None:
    database = Database(tmp_path / "off.db", group_commit=False)
    database.migrate(SCHEMA)

    async def scenario() -> None:
        with database.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        assert not database.pending
        assert durable_values(database.path) == [1]

    try:
        asyncio.run(scenario())
    finally:
        database.close()


def test_work_buffered_for_the_commit_is_undone_with_its_transaction(database: Database) -> None:
    buffered: list[int] = []

    def write(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in buffered])
        buffered.clear()

    def undo(mark: object) -> None:
        assert isinstance(mark, int)
        del buffered[mark:]

    database.add_commit_hook(write)
    database.add_undo_hook(lambda: len(buffered), undo)

    async def scenario() -> None:
        with database.transaction():
            buffered.append(1)
        with pytest.raises(RuntimeError), database.transaction():
            buffered.append(2)
            with database.transaction():
                buffered.append(3)
            raise RuntimeError("boom")
        await committed()
        assert durable_values(database.path) == [1]

    asyncio.run(scenario())
    with pytest.raises(RuntimeError), database.transaction():  # no loop: a plain transaction
        buffered.append(4)
        raise RuntimeError("boom")
    database.touch()
    assert durable_values(database.path) == [1]
