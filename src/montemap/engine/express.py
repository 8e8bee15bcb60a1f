"""EXPRESS child executions of a Distributed Map: run in memory, keep only the result.

An :class:`ExpressRun` is an :class:`~montemap.engine.run.ExecutionRun` whose
history and checkpoints are never written: it runs the same interpreter, and
when it ends hands its result to the Map Run driver, which stores one row per
child (``executions``, type EXPRESS, no events) in batches through
:class:`ExpressResults`. As on AWS, an EXPRESS child is at-least-once: if the
server stops while it runs, the resumed Map Run starts it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import dumps
from montemap.engine.history import Event
from montemap.engine.records import ExecutionRecord
from montemap.engine.run import ExecutionRun
from montemap.engine.store import FrameRow, from_ts

if TYPE_CHECKING:
    from montemap.engine.engine import Engine

#: Columns of an EXPRESS child's row.
_COLUMNS = (
    "arn",
    "state_machine_arn",
    "state_machine_name",
    "name",
    "type",
    "definition",
    "role_arn",
    "status",
    "input",
    "output",
    "error",
    "cause",
    "start_date",
    "stop_date",
    "map_run_arn",
    "parent_arn",
    "redrive_count",
)


class ExpressRun(ExecutionRun):
    """One EXPRESS child: no history rows, no checkpoints; ``on_done`` gets the run at its end."""

    def __init__(
        self, engine: Engine, row: Mapping[str, Any], on_done: Callable[[ExpressRun], None]
    ) -> None:
        super().__init__(engine, row, new=True)  # no history rows: nothing to read back
        self.result: dict[str, Any] = {}
        #: TestState's mocked Task call (see montemap.engine.single_state), else None.
        self.mock: dict[str, Any] | None = None
        self._on_done = on_done

    def commit(
        self,
        frame: FrameRow | None,
        events: list[Event],
        *,
        frames: list[FrameRow] | None = None,
        execution: dict[str, Any] | None = None,
        checkpoint: bool = True,
        follows: str | None = None,
    ) -> int:
        """Number the events (Entered ids appear in error causes) but store nothing."""
        if frame is not None and frame.key in self.pending:
            events = self.pending.pop(frame.key) + events
        first = self.last_event_id + 1
        self.last_event_id += len(events)
        if frame is not None and events:
            self.prev_event[frame.key] = self.last_event_id
        return first

    def finish(
        self,
        status: str,
        *,
        output: Any = None,
        error: str | None = None,
        cause: str | None = None,
        abort: bool = False,
        before: list[Event] | None = None,
    ) -> None:
        if not self.end_once():  # (``before``: events, which an EXPRESS run does not keep)
            return
        self.result = {
            "status": status,
            "stop_date": self.engine.clock.now().timestamp(),
            "output": dumps(output) if status == "SUCCEEDED" else None,
            "error": error,
            "cause": cause,
        }
        if status != "SUCCEEDED":  # close any activity task it still held
            self.engine.activities_closed_for(self.arn)
        self._on_done(self)

    def row_values(self) -> tuple[Any, ...]:
        """The child's row for ``executions`` once it has ended."""
        merged = {**self.row, **self.result}
        return tuple(merged.get(c) for c in _COLUMNS)

    def record(self) -> ExecutionRecord:
        """What the Map Run counts and the ResultWriter writes for this child."""
        start = from_ts(self.row["start_date"])
        assert start is not None
        return ExecutionRecord(
            execution_arn=self.arn,
            state_machine_arn=self.row["state_machine_arn"],
            name=self.row["name"],
            status=self.result.get("status", "RUNNING"),
            start_date=start,
            stop_date=from_ts(self.result.get("stop_date")),
            input=self.row["input"],
            output=self.result.get("output"),
            error=self.result.get("error"),
            cause=self.result.get("cause"),
            map_run_arn=self.row.get("map_run_arn"),
            redrive_count=int(self.row.get("redrive_count") or 0),
        )


class ExpressResults:
    """Ended EXPRESS children, written to ``executions`` in batches (one transaction each)."""

    def __init__(self, engine: Engine, *, max_rows: int = 500, max_age: float = 0.25) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.max_age = max_age
        self._rows: list[tuple[Any, ...]] = []
        self._since = time.monotonic()

    def add(self, run: ExpressRun) -> None:
        if not self._rows:
            self._since = time.monotonic()
        self._rows.append(run.row_values())
        if len(self._rows) >= self.max_rows or time.monotonic() - self._since >= self.max_age:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        marks = ", ".join("?" for _ in _COLUMNS)
        with self.engine.db.transaction() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO executions ({', '.join(_COLUMNS)}) VALUES ({marks})", rows
            )
