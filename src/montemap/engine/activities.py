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
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from montemap.arns import ArnFactory, valid_name
from montemap.engine.db import Database
from montemap.engine.records import ActivityRecord
from montemap.errors import ApiError

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    creation_date REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS activity_tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX IF NOT EXISTS activity_tasks_queue ON activity_tasks(activity_arn, status, seq);
"""

#: Task states: SCHEDULED -> STARTED -> SUCCEEDED | FAILED, or CLOSED (timed out,
#: execution stopped) once the engine stops waiting for it.
OPEN = ("SCHEDULED", "STARTED")

#: Largest output or cause a worker may send (the 256 KiB payload limit).
MAX_PAYLOAD = 256 * 1024


@dataclass(frozen=True)
class TaskRow:
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


def new_token() -> str:
    """An opaque, unguessable task token (256 random bits)."""
    return "AQ" + secrets.token_urlsafe(32)


class ActivityQueue:
    """Activities and their tasks; wakes pollers and the frames awaiting results."""

    def __init__(self, db: Database, arns: ArnFactory) -> None:
        self.db = db
        self.arns = arns
        db.migrate(SCHEMA)
        self._pollers: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._result_waiters: dict[str, asyncio.Event] = {}

    # ------------------------------------------------------------------ activities
    def create(self, name: str, now: datetime) -> ActivityRecord:
        if not valid_name(name):
            raise ApiError("InvalidName", f"Invalid Name: '{name}'")
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
            raise ApiError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
        return ActivityRecord(
            row["arn"], row["name"], datetime.fromtimestamp(row["creation_date"], UTC)
        )

    def exists(self, arn: str) -> bool:
        return self.db.query_one("SELECT 1 FROM activities WHERE arn = ?", (arn,)) is not None

    def delete(self, arn: str) -> None:
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
    ) -> None:
        """Insert a scheduled task inside the caller's transaction."""
        conn.execute(
            "INSERT INTO activity_tasks (token, activity_arn, execution_arn, frame_key, input,"
            " status, scheduled_at, timeout_seconds, heartbeat_seconds)"
            " VALUES (?, ?, ?, ?, ?, 'SCHEDULED', ?, ?, ?)",
            (
                token,
                activity_arn,
                execution_arn,
                frame_key,
                input,
                now.timestamp(),
                timeout_seconds,
                heartbeat_seconds,
            ),
        )

    def notify(self, activity_arn: str) -> None:
        """A task was scheduled: wake one poller of that activity."""
        waiters = self._pollers.get(activity_arn)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def get(self, token: str) -> TaskRow | None:
        row = self.db.query_one("SELECT * FROM activity_tasks WHERE token = ?", (token,))
        if row is None:
            return None
        return TaskRow(**{k: row[k] for k in TaskRow.__dataclass_fields__})

    def claim(self, activity_arn: str, worker_name: str | None, now: datetime) -> TaskRow | None:
        """Mark the oldest scheduled task STARTED and return it (None if there is none)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT token FROM activity_tasks WHERE activity_arn = ? AND status = 'SCHEDULED'"
                " ORDER BY seq LIMIT 1",
                (activity_arn,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE activity_tasks SET status = 'STARTED', worker_name = ?, started_at = ?,"
                " last_heartbeat = ? WHERE token = ?",
                (worker_name, now.timestamp(), now.timestamp(), row["token"]),
            )
        self.wake(row["token"])  # its heartbeat clock starts now
        return self.get(row["token"])

    async def wait_for_task(self, activity_arn: str, timeout: float) -> None:
        """Wait until a task may be available (or the timeout passes)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pollers.setdefault(activity_arn, collections.deque()).append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            if not fut.done():
                fut.cancel()

    def _open_task(self, token: str) -> TaskRow:
        task = self.get(token) if isinstance(token, str) and token else None
        if task is None:
            raise ApiError("TaskDoesNotExist", "Task Does Not Exist")
        if task.status not in OPEN:
            raise ApiError("TaskTimedOut", "Task Timed Out")
        return task

    def complete(
        self,
        token: str,
        *,
        status: str,
        output: str | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> TaskRow:
        """Record a worker's result durably and wake the frame waiting for it."""
        task = self._open_task(token)
        if output is not None:
            if len(output.encode()) > MAX_PAYLOAD:
                raise ApiError(
                    "InvalidOutput", "The output exceeds the maximum size of 262144 bytes"
                )
            try:
                json.loads(output)
            except ValueError:
                raise ApiError("InvalidOutput", "Invalid Output: the output is not valid JSON")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE activity_tasks SET status = ?, output = ?, error = ?, cause = ?"
                " WHERE token = ?",
                (status, output, error, cause, token),
            )
        self.wake(token)
        return task

    def heartbeat(self, token: str, now: datetime) -> TaskRow:
        task = self._open_task(token)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE activity_tasks SET last_heartbeat = ? WHERE token = ?",
                (now.timestamp(), token),
            )
        return task

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

    def wake(self, token: str) -> None:
        """Wake the frame waiting on ``token`` (if one is waiting)."""
        event = self._result_waiters.get(token)
        if event is not None:
            event.set()

    def forget(self, token: str) -> None:
        self._result_waiters.pop(token, None)
