"""Durable execution state in SQLite: executions, their histories and checkpoints.

Every step of an execution commits its history events together with the
checkpoint of the frame that took the step, in one transaction: after a crash
the history and the checkpoints agree, so a restarted engine resumes each
frame at the state it had reached without redoing finished steps.

Under group commit (see :class:`~montemap.engine.db.Database`) a step's
events and checkpoint are serialised at the step but written when the group
commits (a commit hook), all in one COMMIT: the events with one statement,
and a frame that stepped several times in the turn once, with its last
checkpoint. Reads of events or frames write what is pending first.

A value SQLite cannot store (text that is not valid Unicode, such as a lone
surrogate from a task's result) is refused when the step is taken, with
:class:`UnstorableValue` (a ``States.Runtime`` error) raised to the frame that
took it: nothing of that step is buffered, and no group commit is poisoned.
A buffered row that SQLite still refuses at the commit is dropped alone and
its execution reported to :attr:`ExecutionStore.on_write_failed`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from montemap.engine.db import Database
from montemap.engine.history import Event
from montemap.engine.input_texts import MIN_CHARS, InputTexts
from montemap.engine.jsontext import compact_dumps
from montemap.engine.phase import Phase
from montemap.engine.texts import MIN_CHARS as STORED_ONCE
from montemap.engine.texts import TextStore, add_column
from montemap.errors import RUNTIME, StatesError

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    state_machine_arn TEXT NOT NULL,
    state_machine_name TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'STANDARD',
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL DEFAULT '',
    revision_id TEXT,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    cause TEXT,
    start_date REAL NOT NULL,
    stop_date REAL,
    map_run_arn TEXT,
    parent_arn TEXT,
    trace_header TEXT,
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date REAL
);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions(state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions(status);
CREATE INDEX IF NOT EXISTS executions_by_map_run ON executions(map_run_arn, seq);
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    previous_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    details TEXT,
    PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (
    execution_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    parent_key TEXT,
    machine TEXT NOT NULL,
    state TEXT,
    input TEXT,
    variables TEXT,
    phase TEXT,
    status TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    PRIMARY KEY (execution_arn, key)
) WITHOUT ROWID;
"""


#: The executions table's columns, in order (``SELECT *``), and their defaults.
_EXECUTION_COLUMNS = (
    "seq",
    "arn",
    "state_machine_arn",
    "state_machine_name",
    "name",
    "type",
    "definition",
    "role_arn",
    "revision_id",
    "status",
    "input",
    "output",
    "error",
    "cause",
    "start_date",
    "stop_date",
    "map_run_arn",
    "parent_arn",
    "trace_header",
    "redrive_count",
    "redrive_date",
    "input_ref",
)
_EXECUTION_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(_EXECUTION_COLUMNS),
    "type": "STANDARD",
    "role_arn": "",
    "redrive_count": 0,
}


def ts(value: datetime) -> float:
    return value.timestamp()


def from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass
class FrameRow:
    """A checkpoint of one thread of control (the top level, a branch, an iteration)."""

    key: str
    parent_key: str | None
    machine: str  # JSON pointer of the (sub) state machine in the definition
    state: str | None  # current state name (None once finished)
    input: Any
    variables: dict[str, Any]
    phase: Phase
    status: str = "RUNNING"  # RUNNING | SUCCEEDED | FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    #: ``(input, its JSON text)`` while the frame holds that same input object: its
    #: checkpoints and events reuse the text (a Map child's batch is tens of KB).
    input_json: tuple[Any, str] | None = field(default=None, repr=False, compare=False)


_dump = compact_dumps

_INSERT_EVENT = (
    "INSERT INTO events (execution_arn, id, previous_id, type, timestamp, details)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_REPLACE_FRAME = (
    "INSERT OR REPLACE INTO frames (execution_arn, key, parent_key, machine, state,"
    " input, variables, phase, status, output, error, cause, input_ref)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class UnstorableValue(StatesError):
    """A step's events or checkpoint hold text SQLite cannot store (States.Runtime)."""

    def __init__(self, execution_arn: str, exc: UnicodeEncodeError) -> None:
        super().__init__(
            RUNTIME,
            f"The execution's state could not be saved: it holds text that is not valid "
            f"Unicode ({exc.reason} at position {exc.start})",
        )
        self.execution_arn = execution_arn


def _check_text(execution_arn: str, value: object) -> None:
    """Raise :class:`UnstorableValue` if ``value`` is text that is not valid UTF-8."""
    if type(value) is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise UnstorableValue(execution_arn, exc) from None


def _check_storable(
    execution_arn: str, events: list[tuple[Any, ...]], frames: Iterable[tuple[Any, ...]]
) -> None:
    """Refuse a step whose text fields SQLite cannot store (checked before buffering)."""
    for row in events:
        details = row[5]  # everything else in an event row is ours
        if details is not None and not details.isascii():
            _check_text(execution_arn, details)
    for row in frames:
        for value in row[4:]:  # state name, input, variables, phase, output, error, cause
            if type(value) is str and not value.isascii():
                _check_text(execution_arn, value)


def _dump_value(value: Any) -> str:
    """``_dump`` with the common trivial values short-cut."""
    if value is None:
        return "null"
    if type(value) is dict and not value:
        return "{}"
    return _dump(value)


#: The key of an execution's top-level frame (its branches and iterations are below it).
TOP_FRAME_KEY = ""


def list_executions_sql(
    *,
    state_machine_arn: str | None,
    map_run_arn: str | None,
    status: str | None,
    after_seq: int | None,
    limit: int,
    qualified_of: str | None = None,
) -> tuple[str, tuple[object, ...]]:
    """The query of one ListExecutions page (newest first) and its parameters.

    With a status filter beside a state machine or a Map Run, the query walks that
    machine's (or Map Run's) executions newest first, not the index of every execution
    with the status (``+status``: no index for that term): SQLite would otherwise take
    the status index, and a machine with a few runs among the many thousand Distributed
    Map children of the same status had all of those read for one page (85 ms at
    112,000 executions, growing with the history). RUNNING is the exception: few
    executions are running at once, so its index entries are the shorter walk.

    ``qualified_of``: a state machine's ARN; the executions started on its versions and
    aliases (``<qualified_of>:<qualifier>``: names hold no ``:``, so one index range) are
    listed beside those of ``state_machine_arn``. The two walks are merged, each over
    its own index range: one ``OR`` had SQLite read every top-level execution.
    """
    where: list[str] = []
    params: list[object] = []
    if map_run_arn is not None:
        where.append("map_run_arn = ?")
        params.append(map_run_arn)
    else:
        where.append("map_run_arn IS NULL")
    if status is not None:
        narrowed = state_machine_arn is not None or map_run_arn is not None
        where.append("+status = ?" if narrowed and status != "RUNNING" else "status = ?")
        params.append(status)
    if after_seq is not None:
        where.append("seq < ?")
        params.append(after_seq)
    walks: list[tuple[str, list[object]]] = []
    if state_machine_arn is None:
        walks.append(("executions WHERE ", []))
    elif qualified_of is None or not state_machine_arn.startswith(qualified_of + ":"):
        walks.append(("executions WHERE state_machine_arn = ? AND ", [state_machine_arn]))
    if state_machine_arn is not None and qualified_of is not None:
        # the range's own index (SQLite took the walk of every top-level execution)
        term = "executions INDEXED BY executions_by_machine WHERE state_machine_arn > ?"
        range_params: list[object] = [qualified_of + ":", qualified_of + ";"]
        walks.append((term + " AND state_machine_arn < ? AND ", range_params))
    selects = [
        f"SELECT * FROM {term}{' AND '.join(where)} ORDER BY seq DESC LIMIT ?" for term, _ in walks
    ]
    all_params = [value for _, own in walks for value in (*own, *params, limit)]
    if len(selects) == 1:
        return selects[0], tuple(all_params)
    merged = " UNION ALL ".join(f"SELECT * FROM ({select})" for select in selects)
    return merged + " ORDER BY seq DESC LIMIT ?", (*all_params, limit)


class ExecutionStore:
    """Reads and writes executions, events and frame checkpoints."""

    def __init__(self, db: Database, texts: TextStore | None = None) -> None:
        self.db = db
        db.migrate(SCHEMA)
        add_column(db, "frames", "input_ref")  # a large input lives in ``texts``
        add_column(db, "executions", "input_ref")
        #: Large texts, stored once (see :mod:`montemap.engine.texts`).
        self.texts = texts if texts is not None else TextStore(db)
        #: Checkpoints taken but not yet written, by (execution ARN, frame key).
        self._checkpoints: dict[tuple[str, str], tuple[Any, ...]] = {}
        #: Events appended but not yet written (rows of ``_INSERT_EVENT``).
        self._events: list[tuple[Any, ...]] = []
        db.add_commit_hook(self._write_checkpoints)
        db.add_undo_hook(self._mark, self._undo)
        #: Called with (execution ARN, cause) when a buffered row is refused at commit.
        self.on_write_failed: Callable[[str, str], None] | None = None
        #: Frames' input texts, kept while a frame checkpoints the same input again.
        self.input_texts = InputTexts(_dump_value)

    # ------------------------------------------------------------------ executions
    def insert_execution(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert an execution's row (a large input goes to ``texts``, in the same transaction).

        Returns the row as :meth:`get_execution` would read it back (every column, the
        input text itself), without reading it. A second execution with the same ARN
        raises ``sqlite3.IntegrityError`` (the row's UNIQUE constraint), writing nothing.
        """
        with self.db.transaction() as conn:
            text = row.get("input")
            stored = row
            if isinstance(text, str) and len(text) >= STORED_ONCE:
                stored = {**row, "input": None, "input_ref": self.texts.write_now(conn, text)}
            cols = ", ".join(stored)
            marks = ", ".join("?" for _ in stored)
            cur = conn.execute(
                f"INSERT INTO executions ({cols}) VALUES ({marks})", tuple(stored.values())
            )
            seq = cur.lastrowid
        full = {**_EXECUTION_DEFAULTS, **stored, "seq": seq}
        full["input"] = text
        return {column: full[column] for column in _EXECUTION_COLUMNS}

    def get_execution(self, arn: str) -> dict[str, Any] | None:
        row = self.db.query_one("SELECT * FROM executions WHERE arn = ?", (arn,))
        return self.texts.resolve(dict(row)) if row else None

    def running_executions(self) -> list[dict[str, Any]]:
        return [
            self.texts.resolve(dict(r))
            for r in self.db.query("SELECT * FROM executions WHERE status = 'RUNNING' ORDER BY seq")
        ]

    def update_execution(self, arn: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE executions SET {sets} WHERE arn = ?", (*fields.values(), arn))

    def list_executions(
        self,
        *,
        state_machine_arn: str | None,
        map_run_arn: str | None,
        status: str | None,
        after_seq: int | None,
        limit: int,
        qualified_of: str | None = None,
    ) -> list[dict[str, Any]]:
        if qualified_of is not None and not self._has_qualified(qualified_of):
            qualified_of = None  # the common case: one index walk, no sort
        sql, params = list_executions_sql(
            state_machine_arn=state_machine_arn,
            map_run_arn=map_run_arn,
            status=status,
            after_seq=after_seq,
            limit=limit,
            qualified_of=qualified_of,
        )
        return [self.texts.resolve(dict(r)) for r in self.db.query(sql, params)]

    def _has_qualified(self, state_machine_arn: str) -> bool:
        """Whether any execution was started on a version or an alias of the machine."""
        row = self.db.query_one(
            "SELECT 1 FROM executions WHERE state_machine_arn > ? AND state_machine_arn < ?"
            " LIMIT 1",
            (state_machine_arn + ":", state_machine_arn + ";"),
        )
        return row is not None

    # ------------------------------------------------------------------ events + frames
    def commit(
        self,
        execution_arn: str,
        *,
        first_event_id: int,
        events: list[tuple[Event, int, datetime]],
        frames: list[FrameRow] = (),  # type: ignore[assignment]
        execution: dict[str, Any] | None = None,
    ) -> None:
        """Append events (with ids from ``first_event_id``) and checkpoints atomically."""
        try:
            checkpoints = {
                (execution_arn, f.key): self._frame_row(execution_arn, f) for f in frames
            }
            details = self.texts.details
            rows = [
                (
                    execution_arn,
                    first_event_id + i,
                    prev,
                    ev.type,
                    when.timestamp(),
                    None if ev.details is None else details(ev.details, _dump),
                )
                for i, (ev, prev, when) in enumerate(events)
            ]
        except UnicodeEncodeError as exc:  # a large text that is not valid Unicode
            raise UnstorableValue(execution_arn, exc) from None
        _check_storable(execution_arn, rows, checkpoints.values())
        if execution:
            for value in execution.values():
                _check_text(execution_arn, value)
        if not execution and self.db.grouping:
            self.db.touch()  # the group's commit writes them
            self._events.extend(rows)
            self._checkpoints.update(checkpoints)
            return
        with self.db.transaction() as conn:
            if rows:
                conn.executemany(_INSERT_EVENT, rows)
            if execution:
                sets = ", ".join(f"{k} = ?" for k in execution)
                conn.execute(
                    f"UPDATE executions SET {sets} WHERE arn = ?",
                    (*execution.values(), execution_arn),
                )
            self._checkpoints.update(checkpoints)  # written by this transaction's commit

    def _frame_row(self, execution_arn: str, f: FrameRow) -> tuple[Any, ...]:
        """The checkpoint row of ``f`` (a large input as a reference to ``texts``)."""
        text = self.input_text(execution_arn, f)
        ref = self.texts.reference(text) if len(text) >= STORED_ONCE else None
        return (
            execution_arn,
            f.key,
            f.parent_key,
            f.machine,
            f.state,
            None if ref is not None else text,
            _dump_value(f.variables),
            _dump(f.phase),
            f.status,
            _dump_value(f.output),
            f.error,
            f.cause,
            ref,
        )

    def remember_input(self, execution_arn: str, frame_key: str, value: Any, text: str) -> None:
        """Keep ``text``, the compact JSON of ``value``, for that frame's checkpoints."""
        self.input_texts.remember((execution_arn, frame_key), value, text)

    def input_text(self, execution_arn: str, frame: FrameRow) -> str:
        """``frame.input`` as JSON text, reused while the frame keeps the same input.

        A large text stays with the frame (:attr:`FrameRow.input_json`) for as long as
        the frame holds that input object; ``input_texts`` holds texts made before the
        frame was (:meth:`remember_input`).
        """
        kept = frame.input_json
        if kept is not None and kept[0] is frame.input:
            return kept[1]
        last = frame.status != "RUNNING"
        text = self.input_texts.text((execution_arn, frame.key), frame.input, last=last)
        frame.input_json = (frame.input, text) if len(text) >= MIN_CHARS and not last else None
        return text

    def _mark(self) -> object:
        return len(self._events), dict(self._checkpoints)

    def _undo(self, mark: object) -> None:
        """A transaction rolled back: forget what it buffered."""
        assert isinstance(mark, tuple)
        count: int = mark[0]
        checkpoints: dict[tuple[str, str], tuple[Any, ...]] = mark[1]
        del self._events[count:]
        self._checkpoints = checkpoints

    def _write_checkpoints(self, conn: sqlite3.Connection) -> None:
        """The commit hook: write the events and checkpoints this transaction holds.

        If the storage fails, what was not written goes back to the buffers
        (the group is applied again and retried, see ``Database``).
        """
        events, self._events = self._events, []
        checkpoints, self._checkpoints = self._checkpoints, {}
        refused: list[tuple[Any, Exception]] = []
        try:
            if events:
                refused += self.db.write_rows(_INSERT_EVENT, events)
                events = []
            if checkpoints:
                refused += self.db.write_rows(_REPLACE_FRAME, list(checkpoints.values()))
                checkpoints = {}
        except BaseException:
            self._events[:0] = events
            self._checkpoints = {**checkpoints, **self._checkpoints}
            raise
        if refused and self.on_write_failed is not None:
            failed: dict[str, str] = {}
            for row, exc in refused:
                failed.setdefault(str(row[0]), f"{type(exc).__name__}: {exc}")
            for arn, cause in failed.items():
                self.on_write_failed(arn, cause)

    def _write_pending(self) -> None:
        """Write pending events and checkpoints now (before they are read back)."""
        if self._events or self._checkpoints:
            with self.db.transaction() as conn:
                self._write_checkpoints(conn)

    def last_event_id(self, execution_arn: str) -> int:
        self._write_pending()
        row = self.db.query_one(
            "SELECT MAX(id) AS last FROM events WHERE execution_arn = ?", (execution_arn,)
        )
        return int(row["last"] or 0) if row else 0

    def delete_frames(self, execution_arn: str, keys: list[str] | None = None) -> None:
        with self.db.transaction() as conn:
            if keys is None:
                for pending in [k for k in self._checkpoints if k[0] == execution_arn]:
                    del self._checkpoints[pending]
                conn.execute("DELETE FROM frames WHERE execution_arn = ?", (execution_arn,))
            else:
                for key in keys:
                    self._checkpoints.pop((execution_arn, key), None)
                conn.executemany(
                    "DELETE FROM frames WHERE execution_arn = ? AND key = ?",
                    [(execution_arn, k) for k in keys],
                )

    def frames(self, execution_arn: str) -> dict[str, FrameRow]:
        self._write_pending()
        out: dict[str, FrameRow] = {}
        for r in self.db.query("SELECT * FROM frames WHERE execution_arn = ?", (execution_arn,)):
            out[r["key"]] = FrameRow(
                key=r["key"],
                parent_key=r["parent_key"],
                machine=r["machine"],
                state=r["state"],
                input=json.loads(
                    r["input"] if r["input_ref"] is None else self.texts.text(r["input_ref"])
                ),
                variables=json.loads(r["variables"]),
                phase=json.loads(r["phase"]),
                status=r["status"],
                output=json.loads(r["output"]),
                error=r["error"],
                cause=r["cause"],
            )
        return out

    def events(
        self, execution_arn: str, *, reverse: bool, after_id: int | None, limit: int
    ) -> list[dict[str, Any]]:
        if self.db.failure is None:
            # While a failed commit is retried, a history read is answered with what the
            # database holds (the newest steps appear once it commits), never refused.
            self._write_pending()
        if reverse:
            sql = "SELECT * FROM events WHERE execution_arn = ? AND id < ? ORDER BY id DESC LIMIT ?"
            bound = after_id if after_id is not None else 2**62
        else:
            sql = "SELECT * FROM events WHERE execution_arn = ? AND id > ? ORDER BY id ASC LIMIT ?"
            bound = after_id if after_id is not None else 0
        rows = [dict(r) for r in self.db.query(sql, (execution_arn, bound, limit))]
        for row in rows:
            row["details"] = self.texts.restore_details(row["details"])
        return rows
