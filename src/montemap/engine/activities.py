"""Activities: a durable queue of tasks per activity, served by long polling.

A scheduled task is a row in ``activity_tasks``, written in the same
transaction as the ActivityScheduled event, so it survives a restart; so does
its token. ``GetActivityTask`` claims the oldest scheduled task the moment one
exists (pollers wait on an asyncio future, never in a sleep loop). A task
handed to a worker is not handed to another while it is STARTED; if its worker
dies, the heartbeat or timeout lapses and the state's Retry policy schedules a
new task with a new token.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from montemap.arns import ArnFactory, valid_name
from montemap.engine.db import Database
from montemap.engine.errors import (
    ActivityDoesNotExist,
    ActivityWorkerLimitExceeded,
    EngineRefusal,
    InvalidName,
    InvalidOutput,
    InvalidTaskToken,
    TaskDoesNotExist,
    TaskTimedOut,
)
from montemap.engine.records import ActivityRecord
from montemap.engine.texts import MIN_CHARS, TextStore, add_column

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    creation_date REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS activity_tasks (
    seq INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    activity_arn TEXT NOT NULL,
    execution_arn TEXT NOT NULL,
    frame_key TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    worker_name TEXT,
    scheduled_at REAL NOT NULL,
    started_at REAL,
    last_heartbeat REAL,
    timeout_seconds REAL,
    heartbeat_seconds REAL,
    output TEXT,
    error TEXT,
    cause TEXT
);
DROP INDEX IF EXISTS activity_tasks_queue;
CREATE INDEX IF NOT EXISTS activity_tasks_scheduled ON activity_tasks(activity_arn, seq)
    WHERE status = 'SCHEDULED';
CREATE INDEX IF NOT EXISTS activity_tasks_open ON activity_tasks(execution_arn)
    WHERE status IN ('SCHEDULED', 'STARTED');
"""
# The queue index holds only scheduled tasks: a claim removes the entry and a
# result leaves the index alone (the full (activity, status, seq) index moved
# every task's entry twice and kept every finished one). The open-task index
# lets an ending execution close its tasks without scanning every task ever run.
# ``seq`` needs no AUTOINCREMENT (tasks are never deleted, so a new rowid is always
# the largest yet); without it no insert writes ``sqlite_sequence`` (databases made
# before keep it, which works the same).

#: Task states: SCHEDULED -> STARTED -> SUCCEEDED | FAILED, or CLOSED (timed out,
#: execution stopped) once the engine stops waiting for it.
OPEN = ("SCHEDULED", "STARTED")

#: AWS's quota of pollers waiting in GetActivityTask on one activity at a time.
MAX_POLLERS = 1000

#: Largest output or cause a worker may send (the 256 KiB payload limit).
MAX_PAYLOAD = 256 * 1024

_COLUMNS = (
    "token, activity_arn, execution_arn, frame_key, input, status, worker_name, scheduled_at,"
    " started_at, last_heartbeat, timeout_seconds, heartbeat_seconds, output, error, cause,"
    " input_ref"
)


class TaskRow(NamedTuple):
    """One activity task's row (a tuple: built from a database row cheaply)."""

    token: str
    activity_arn: str
    execution_arn: str
    frame_key: str
    input: str
    status: str
    worker_name: str | None
    scheduled_at: float
    started_at: float | None
    last_heartbeat: float | None
    timeout_seconds: float | None
    heartbeat_seconds: float | None
    output: str | None
    error: str | None
    cause: str | None
    #: A large input is stored once in ``texts``: its digest (``input`` is then empty).
    input_ref: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> TaskRow:
        """A row selected (or returned) with ``_COLUMNS``, in that order."""
        return cls._make(row)


#: The shape of every token :func:`new_token` has issued ("AQ", its time in hex since
#: 0.1, then 43 URL-safe base64 characters).
_TOKEN_SHAPE = re.compile(r"AQ[0-9a-f]{0,20}[A-Za-z0-9_-]{43}")


def check_token(token: object) -> str:
    """``token`` if it has the shape of one the server issues, else ``InvalidTaskToken``
    (AWS's ``InvalidToken``: a token it cannot have issued is not looked up)."""
    if not isinstance(token, str) or _TOKEN_SHAPE.fullmatch(token) is None:
        raise InvalidTaskToken()
    return token


def new_token() -> str:
    """An opaque, unguessable task token (256 random bits).

    A time prefix keeps tokens in creation order, so each new one lands on
    the last page of the token index (fewer pages written per commit).
    """
    return f"AQ{time.time_ns():x}{secrets.token_urlsafe(32)}"


class ActivityQueue:
    """Activities and their tasks; wakes pollers and the frames awaiting results."""

    def __init__(self, db: Database, arns: ArnFactory, texts: TextStore | None = None) -> None:
        self.db = db
        self.arns = arns
        db.migrate(SCHEMA)
        add_column(db, "activity_tasks", "input_ref")
        self.texts = texts if texts is not None else TextStore(db)
        self._pollers: dict[str, collections.deque[asyncio.Future[bool]]] = {}
        self._result_waiters: dict[str, asyncio.Event] = {}
        #: The latest row of a task whose waiter was woken (saves re-reading it).
        self._woken: dict[str, TaskRow] = {}
        #: Activities known to exist (``GetActivityTask`` and every schedule check this).
        self._known: set[str] = set()
        #: Set when the server begins to stop: polls end at once, without a task.
        self.polls_ended = False

    # ------------------------------------------------------------------ activities
    def create(self, name: str, now: datetime) -> ActivityRecord:
        if not valid_name(name):
            raise InvalidName(name)
        arn = self.arns.activity(name)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO activities (arn, name, creation_date) VALUES (?, ?, ?)",
                (arn, name, now.timestamp()),
            )
        return self.describe(arn)

    def describe(self, arn: str) -> ActivityRecord:
        row = self.db.query_one("SELECT * FROM activities WHERE arn = ?", (arn,))
        if row is None:
            raise ActivityDoesNotExist(arn)
        return ActivityRecord(
            row["arn"], row["name"], datetime.fromtimestamp(row["creation_date"], UTC)
        )

    def exists(self, arn: str) -> bool:
        if arn in self._known:
            return True
        found = self.db.query_one("SELECT 1 FROM activities WHERE arn = ?", (arn,)) is not None
        if found:
            self._known.add(arn)
        return found

    def delete(self, arn: str) -> None:
        self._known.discard(arn)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM activities WHERE arn = ?", (arn,))

    def list(self) -> list[ActivityRecord]:
        return [
            ActivityRecord(r["arn"], r["name"], datetime.fromtimestamp(r["creation_date"], UTC))
            for r in self.db.query("SELECT * FROM activities ORDER BY creation_date, arn")
        ]

    # ------------------------------------------------------------------ tasks
    def schedule_sql(
        self,
        conn: Any,
        *,
        token: str,
        activity_arn: str,
        execution_arn: str,
        frame_key: str,
        input: str,
        now: datetime,
        timeout_seconds: float | None,
        heartbeat_seconds: float | None,
    ) -> TaskRow:
        """Insert a scheduled task inside the caller's transaction; its row.

        A large input goes to ``texts`` now, with the task (a full disk fails the step).
        """
        ref = self.texts.write_now(conn, input) if len(input) >= MIN_CHARS else None
        task = TaskRow(
            token=token,
            activity_arn=activity_arn,
            execution_arn=execution_arn,
            frame_key=frame_key,
            input=input,
            status="SCHEDULED",
            worker_name=None,
            scheduled_at=now.timestamp(),
            started_at=None,
            last_heartbeat=None,
            timeout_seconds=timeout_seconds,
            heartbeat_seconds=heartbeat_seconds,
            output=None,
            error=None,
            cause=None,
        )
        conn.execute(
            "INSERT INTO activity_tasks (token, activity_arn, execution_arn, frame_key, input,"
            " status, scheduled_at, timeout_seconds, heartbeat_seconds, input_ref)"
            " VALUES (?, ?, ?, ?, ?, 'SCHEDULED', ?, ?, ?, ?)",
            (
                token,
                activity_arn,
                execution_arn,
                frame_key,
                "" if ref is not None else input,
                task.scheduled_at,
                timeout_seconds,
                heartbeat_seconds,
                ref,
            ),
        )
        return task

    def input_of(self, task: TaskRow) -> str:
        """The task's input text (read from ``texts`` when stored there)."""
        return task.input if task.input_ref is None else self.texts.text(task.input_ref)

    def notify(self, activity_arn: str) -> None:
        """A task was scheduled: wake one poller of that activity."""
        waiters = self._pollers.get(activity_arn)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                return

    def waiting_polls(self) -> int:
        """How many GetActivityTask long polls are waiting for a task, all activities."""
        return sum(1 for waiters in self._pollers.values() for f in waiters if not f.done())

    def end_polls(self) -> None:
        """The server is stopping: every waiting poll ends now without a task (as a poll
        whose time is up), and later ones do not wait or take one; the tasks stay
        scheduled for the workers of the next start."""
        self.polls_ended = True
        for waiters in self._pollers.values():
            while waiters:
                _expire(waiters.popleft())

    def get(self, token: str) -> TaskRow | None:
        row = self.db.query_one(f"SELECT {_COLUMNS} FROM activity_tasks WHERE token = ?", (token,))
        return None if row is None else TaskRow.from_row(row)

    def claim(self, activity_arn: str, worker_name: str | None, now: datetime) -> TaskRow | None:
        """Mark the oldest scheduled task STARTED and return it (None if there is none)."""
        rows = self.db.statement(
            "UPDATE activity_tasks SET status = 'STARTED', worker_name = ?, started_at = ?,"
            " last_heartbeat = ? WHERE seq = (SELECT seq FROM activity_tasks"
            " WHERE activity_arn = ? AND status = 'SCHEDULED' ORDER BY seq LIMIT 1)"
            f" RETURNING {_COLUMNS}",
            (worker_name, now.timestamp(), now.timestamp(), activity_arn),
        )
        if not rows:
            return None
        task = TaskRow.from_row(rows[0])
        if task.heartbeat_seconds:
            self.wake(task)  # its heartbeat clock starts now
        return task

    async def wait_for_task(self, activity_arn: str, timeout: float) -> None:
        """Wait until a task may be available (or the timeout passes).

        A poller woken for a task but cancelled before it could claim it (its
        client left) passes the wake-up on to the next poller, so the task is
        not left waiting for a poller that will never come back. Past
        :data:`MAX_POLLERS` waiting pollers, another is refused.
        """
        loop = asyncio.get_running_loop()
        waiters = self._pollers.setdefault(activity_arn, collections.deque())
        if len(waiters) >= MAX_POLLERS:
            raise ActivityWorkerLimitExceeded(activity_arn, MAX_POLLERS)
        fut: asyncio.Future[bool] = loop.create_future()
        waiters.append(fut)
        timer = loop.call_later(timeout, _expire, fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self.notify(activity_arn)
            raise
        finally:
            timer.cancel()
            if fut.cancelled() or not fut.done() or not fut.result():
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)  # timed out or cancelled: not in the queue any more

    def _open_task(self, token: str) -> TaskRow:
        task = self.get(check_token(token))
        if task is None:
            raise TaskDoesNotExist()
        if task.status not in OPEN:
            raise TaskTimedOut()
        return task

    def _missing(self, token: str) -> EngineRefusal:
        """Why a result for ``token`` is refused: no such task, or no longer open."""
        if self.get(token) is not None:
            return TaskTimedOut()
        return TaskDoesNotExist()

    def complete(
        self,
        token: str,
        *,
        status: str,
        output: str | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> TaskRow:
        """Record a worker's result durably and wake the frame waiting for it.

        Refusals come in AWS's order: a malformed token, an unknown or closed
        task first, then an invalid output.
        """
        check_token(token)
        problem = None if output is None else _output_problem(output)
        if problem is not None:
            self._open_task(token)
            raise problem
        rows = self.db.statement(
            "UPDATE activity_tasks SET status = ?, output = ?, error = ?, cause = ?"
            f" WHERE token = ? AND status IN ('SCHEDULED', 'STARTED') RETURNING {_COLUMNS}",
            (status, output, error, cause, token),
        )
        if not rows:
            raise self._missing(token)
        task = TaskRow.from_row(rows[0])
        self.wake(task)
        return task

    def heartbeat(self, token: str, now: datetime) -> TaskRow:
        """Record a worker's heartbeat; the task as it is now."""
        check_token(token)
        rows = self.db.statement(
            "UPDATE activity_tasks SET last_heartbeat = ?"
            f" WHERE token = ? AND status IN ('SCHEDULED', 'STARTED') RETURNING {_COLUMNS}",
            (now.timestamp(), token),
        )
        if not rows:
            raise self._missing(token)
        return TaskRow.from_row(rows[0])

    def close(self, token: str) -> None:
        """The engine stopped waiting (timeout, stop): late results get TaskTimedOut."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE activity_tasks SET status = 'CLOSED' WHERE token = ? AND status IN"
                " ('SCHEDULED', 'STARTED')",
                (token,),
            )

    # ------------------------------------------------------------------ result waiting
    def result_event(self, token: str) -> asyncio.Event:
        return self._result_waiters.setdefault(token, asyncio.Event())

    def wake(self, task: TaskRow) -> None:
        """Wake the frame waiting on ``task`` (if one is waiting), handing it the row."""
        event = self._result_waiters.get(task.token)
        if event is not None:
            self._woken[task.token] = task
            event.set()

    def woken(self, token: str) -> TaskRow | None:
        """The row the last wake-up handed over (None: read it from the database)."""
        return self._woken.pop(token, None)

    def forget(self, token: str) -> None:
        self._result_waiters.pop(token, None)
        self._woken.pop(token, None)


def _output_problem(output: str) -> InvalidOutput | None:
    """Why a worker's output is refused (None: it is fine)."""
    if len(output.encode()) > MAX_PAYLOAD:
        return InvalidOutput("The output exceeds the maximum size of 262144 bytes")
    try:
        json.loads(output)
    except ValueError:
        return InvalidOutput("Invalid Output: the output is not valid JSON")
    return None


def _expire(fut: asyncio.Future[bool]) -> None:
    """A poll's time is up: resolve its future as 'not woken for a task'."""
    if not fut.done():
        fut.set_result(False)
