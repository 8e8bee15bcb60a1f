"""Per-state progress folded from a real execution store, incrementally."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from montemap.console.progress import ProgressCache, StateProgress
from montemap.engine.db import Database
from montemap.engine.history import Event
from montemap.engine.store import ExecutionStore

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:e"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExecutionStore]:
    db = Database(tmp_path / "montemap.db")
    yield ExecutionStore(db)
    db.close()


class History:
    """Appends events to the store as an execution would."""

    def __init__(self, store: ExecutionStore) -> None:
        self.store = store
        self.last = 0

    def add(self, kind: str, details: dict[str, Any] | None = None, prev: int | None = None) -> int:
        self.last += 1
        previous = self.last - 1 if prev is None else prev
        self.store.commit(
            ARN,
            first_event_id=self.last,
            events=[(Event(kind, details), previous, datetime.now(UTC))],
        )
        return self.last


def test_running_then_succeeded(store: ExecutionStore) -> None:
    h = History(store)
    h.add("ExecutionStarted", {"input": "{}"})
    h.add("PassStateEntered", {"name": "A", "input": "{}"})
    cache = ProgressCache(store)
    assert cache.get(ARN).snapshot()["A"]["status"] == "running"
    h.add("PassStateExited", {"name": "A", "output": "{}"})
    h.add("ExecutionSucceeded", {"output": "{}"})
    progress = cache.get(ARN)
    assert progress.last_id == 4
    assert progress.snapshot() == {
        "A": {"status": "succeeded", "entered": 1, "exited": 1, "failures": 0}
    }


def test_caught_failure_and_failure_at_the_end(store: ExecutionStore) -> None:
    h = History(store)
    h.add("ExecutionStarted")
    h.add("TaskStateEntered", {"name": "T"})
    h.add("TaskScheduled", {"resource": "invoke"})
    h.add("TaskFailed", {"error": "E", "cause": "C"})
    h.add("TaskStateExited", {"name": "T"})
    h.add("FailStateEntered", {"name": "F"})
    h.add("ExecutionFailed", {"error": "E"})
    snap = ProgressCache(store).get(ARN).snapshot()
    assert snap["T"]["status"] == "caught" and snap["T"]["failures"] == 1
    assert snap["F"]["status"] == "failed"


def test_iterations_count_each_entry(store: ExecutionStore) -> None:
    h = History(store)
    h.add("ExecutionStarted")
    h.add("MapStateEntered", {"name": "M"})
    started = h.add("MapStateStarted", {"length": 2})
    for index in range(2):
        h.add("MapIterationStarted", {"name": "M", "index": index}, prev=started)
        h.add("PassStateEntered", {"name": "P"})
        h.add("PassStateExited", {"name": "P"})
        h.add("MapIterationSucceeded", {"name": "M", "index": index})
    snap = ProgressCache(store).get(ARN).snapshot()
    assert snap["P"] == {"status": "succeeded", "entered": 2, "exited": 2, "failures": 0}
    assert snap["M"]["status"] == "running"


def test_aborted_execution_marks_open_states(store: ExecutionStore) -> None:
    h = History(store)
    h.add("ExecutionStarted")
    h.add("WaitStateEntered", {"name": "W"})
    h.add("ExecutionAborted", {"error": "x"})
    assert ProgressCache(store).get(ARN).snapshot()["W"]["status"] == "aborted"


def test_cache_reads_only_new_events_and_forgets_the_oldest(store: ExecutionStore) -> None:
    cache = ProgressCache(store, size=2)
    first = cache.get("a")
    cache.get("b")
    assert cache.get("a") is first
    cache.get("c")  # evicts b, the least recently used
    assert "b" not in cache._items and "a" in cache._items
    progress = StateProgress()
    progress.fold(7, 0, "PassStateEntered", {"name": "X"})
    assert progress.last_id == 7
