"""Each state's status in one execution, folded incrementally from its history.

A :class:`StateProgress` reads only the events it has not seen yet, so a page
polling every second costs one indexed query for the new rows. A state is
``running`` while it has been entered more often than exited, ``succeeded``
once exited, ``caught`` when it exited right after a failure (a Catch moved
on; a failure a Retry recovered from does not count), and takes the
execution's failure (``failed``, ``timed_out``, ``aborted``) when it was
still open as the execution ended that way. A redrive (``ExecutionRedriven``)
makes the execution running again, and the states it reruns with it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from montemap.engine.store import ExecutionStore

#: Event types that mean the state which caused them failed.
_FAILURES = ("Failed", "TimedOut")
_ENDINGS = {
    "ExecutionFailed": "failed",
    "ExecutionTimedOut": "timed_out",
    "ExecutionAborted": "aborted",
    "ExecutionSucceeded": "succeeded",
}
_READ_CHUNK = 2000


@dataclass
class StateCounts:
    """How often one state was entered and exited, how often it failed, and how often
    it exited on a failure (caught)."""

    entered: int = 0
    exited: int = 0
    failures: int = 0
    caught: int = 0

    def status(self, ending: str | None) -> str:
        if self.entered > self.exited:
            if ending in ("failed", "timed_out", "aborted"):
                return ending
            return "running" if ending is None else "succeeded"
        if self.caught:
            return "caught"
        return "succeeded"


@dataclass
class StateProgress:
    """The per-state counters of one execution, up to ``last_id``."""

    last_id: int = 0
    states: dict[str, StateCounts] = field(default_factory=dict)
    ending: str | None = None
    #: event id -> the id of the StateEntered event of the state entry it belongs to
    _owner: dict[int, int] = field(default_factory=dict)
    #: StateEntered id -> the state's name
    _names: dict[int, str] = field(default_factory=dict)
    #: StateEntered ids whose latest event is a failure (exiting now means caught)
    _failing: set[int] = field(default_factory=set)

    def fold(self, event_id: int, previous_id: int, event_type: str, details: Any) -> None:
        """Account for one event (in id order)."""
        name = details.get("name") if isinstance(details, dict) else None
        entry = self._owner.get(previous_id)
        if event_type.endswith("StateEntered") and isinstance(name, str):
            self.states.setdefault(name, StateCounts()).entered += 1
            self._owner[event_id] = event_id
            self._names[event_id] = name
        elif event_type.endswith("StateExited") and isinstance(name, str):
            counts = self.states.setdefault(name, StateCounts())
            counts.exited += 1
            if entry is not None and entry in self._failing:
                self._failing.discard(entry)
                counts.caught += 1
        elif event_type == "ExecutionRedriven":
            self.ending = None  # running again, from the states that were open
        elif entry is not None and not event_type.startswith(("MapIteration", "Execution")):
            self._owner[event_id] = entry
            if event_type.endswith(_FAILURES):
                self.states[self._names[entry]].failures += 1
                self._failing.add(entry)
            else:  # scheduled again by a Retry, or succeeded
                self._failing.discard(entry)
        if event_type in _ENDINGS:
            self.ending = _ENDINGS[event_type]
        self.last_id = event_id

    def read(self, store: ExecutionStore, arn: str) -> None:
        """Fold every event stored after ``last_id``."""
        while True:
            rows = store.events(arn, reverse=False, after_id=self.last_id, limit=_READ_CHUNK)
            for r in rows:
                details = json.loads(r["details"]) if r["details"] else None
                self.fold(r["id"], r["previous_id"], r["type"], details)
            if len(rows) < _READ_CHUNK:
                return

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{state name: {"status", "entered", "exited", "failures"}}``."""
        return {
            name: {
                "status": c.status(self.ending),
                "entered": c.entered,
                "exited": c.exited,
                "failures": c.failures,
            }
            for name, c in self.states.items()
        }


class ProgressCache:
    """The :class:`StateProgress` of the executions pages look at (least recently used out)."""

    def __init__(self, store: ExecutionStore, size: int = 64) -> None:
        self.store = store
        self.size = size
        self._items: OrderedDict[str, StateProgress] = OrderedDict()

    def get(self, arn: str) -> StateProgress:
        progress = self._items.pop(arn, None) or StateProgress()
        self._items[arn] = progress
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        progress.read(self.store, arn)
        return progress
