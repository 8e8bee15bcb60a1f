"""ExecutionStore under group commit: events and checkpoints written once, at the COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from montemap.engine.db import Database, committed
from montemap.engine.history import Event
from montemap.engine.phase import Phase
from montemap.engine.store import ExecutionStore, FrameRow

ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:e"


def frame(state: str | None, phase: dict[str, object]) -> FrameRow:
    return FrameRow(
        key="",
        parent_key=None,
        machine="",
        state=state,
        input={"a": 1},
        variables={},
        phase=cast(Phase, phase),  # the store keeps any progress; the test's is its own
    )


def durable(path: str, sql: str) -> list[tuple[object, ...]]:
    other = sqlite3.connect(path)
    try:
        return list(other.execute(sql))
    finally:
        other.close()


def test_steps_of_one_turn_are_written_together_with_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "s.db")
    now = datetime.now(UTC)

    async def scenario() -> None:
        db = Database(path)
        store = ExecutionStore(db)
        top = frame("A", {"step": 1})
        store.commit(ARN, first_event_id=1, events=[(Event("One"), 0, now)], frames=[top])
        top.state, top.phase = "B", cast(Phase, {"step": 2})
        store.commit(ARN, first_event_id=2, events=[(Event("Two", {"x": 1}), 1, now)], frames=[top])
        # Readers on this process see both steps at once...
        assert [e["type"] for e in store.events(ARN, reverse=False, after_id=None, limit=10)] == [
            "One",
            "Two",
        ]
        assert store.frames(ARN)[""].phase == {"step": 2}
        assert store.last_event_id(ARN) == 2
        # ...and the database has them once the group commits: the frame's last checkpoint.
        await committed()
        assert durable(path, "SELECT id, type, details FROM events ORDER BY id") == [
            (1, "One", None),
            (2, "Two", '{"x":1}'),
        ]
        assert durable(path, "SELECT state, phase FROM frames") == [("B", '{"step":2}')]
        db.close()

    asyncio.run(scenario())


def test_deleted_frames_are_not_written_back_and_failed_steps_are_not_written(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "s.db")
    now = datetime.now(UTC)

    async def scenario() -> None:
        db = Database(path)
        store = ExecutionStore(db)
        store.commit(
            ARN, first_event_id=1, events=[(Event("One"), 0, now)], frames=[frame("A", {})]
        )
        store.delete_frames(ARN)  # the execution ended in the same turn
        with pytest.raises(RuntimeError), db.transaction():
            store.commit(
                ARN, first_event_id=2, events=[(Event("Lost"), 1, now)], frames=[frame("Z", {})]
            )
            raise RuntimeError("the step failed after recording")
        await committed()
        assert durable(path, "SELECT type FROM events") == [("One",)]
        assert durable(path, "SELECT state FROM frames") == []
        db.close()

    asyncio.run(scenario())
