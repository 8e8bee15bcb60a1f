"""The queue of asynchronous invocations (``InvocationType: Event``, S3 event notifications).

Each invocation is a row of the server's SQLite database, written in the request's
(group-committed) transaction: the 202 of Invoke, or the 200 of the S3 write whose
notification it is, leaves only once the row is committed. A background task per row
runs the function as Lambda's asynchronous invocations run: a throttled attempt (no
free slot within the function's reserved concurrency, or a reserved concurrency of 0)
is tried again after a backoff (1 s doubling to 5 minutes, sooner once one of the
function's invocations ends) and does not count as an attempt; a function error (the
handler's, a timeout) is retried, one minute and then two minutes later, up to the
function's ``MaximumRetryAttempts`` (2 by default, its event invoke configuration); an
event older than its ``MaximumEventAgeInSeconds`` (six hours by default) is given up.
The row is deleted once the invocation has finished (succeeded, was given up, or was
refused: the function was deleted); the ``done`` callback hears how it ended
(``Success``, ``RetriesExhausted``, ``EventAgeExceeded``: its destinations).

At start, every row left is delivered again: delivery is at least once. An invocation
that was running when the server was killed (or stopped) runs again, from its first
attempt not yet failed, with the same request id, as Lambda may also deliver an event
twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from montemap.engine.db import Database, background
from montemap.errors import MontemapError
from montemap.lambda_api.names import FunctionRef

log = logging.getLogger("montemap.lambda")

SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_async_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    qualifier TEXT,
    event TEXT NOT NULL,
    request_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued REAL NOT NULL,
    due REAL NOT NULL
);
"""

#: Lambda's waits before the second and the third attempt of a failed invocation (seconds).
RETRY_DELAYS = (60.0, 120.0)
#: Lambda's default ``MaximumEventAgeInSeconds``: an older event is dropped.
MAX_EVENT_AGE = 6 * 3600.0
#: The first and the longest wait before a throttled invocation is tried again (seconds).
THROTTLE_BACKOFF = (1.0, 300.0)


class Throttled(MontemapError):
    """An attempt found no free slot (raised by ``run``): tried again after a backoff."""


class GiveUp(MontemapError):
    """An attempt that ends the invocation at once, without retries (raised by ``run``;
    the message is the condition its destination is told): the function's reserved
    concurrency is 0 (``ZeroReservedConcurrency``), as Lambda sends such an event to the
    on-failure destination instead of keeping it."""


@dataclass(frozen=True)
class Policy:
    """A function's ``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds``."""

    retries: int
    max_age: float


@dataclass(frozen=True)
class Attempt:
    """What ``run`` tells of an attempt that ran: its outcome, for the destinations."""

    ok: bool
    detail: object = None


@dataclass(frozen=True)
class Queued:
    """One asynchronous invocation waiting or running."""

    id: int
    ref: FunctionRef
    event: str
    request_id: str
    #: Attempts that failed so far (a function error).
    attempts: int
    enqueued: float
    #: When its next attempt may start (epoch seconds).
    due: float


#: Runs one attempt: True (or an ``Attempt`` whose ``ok`` is) when it succeeded, False on
#: a function error (retried); ``Throttled`` when it could not start; any other exception
#: is a refusal (the invocation is dropped).
Run = Callable[[Queued], Awaitable["bool | Attempt"]]
#: The function's retry and age settings (None: the queue's defaults).
Settings = Callable[[FunctionRef], "Policy | None"]
#: Told how an invocation ended (``Success``, ``RetriesExhausted``, ``EventAgeExceeded``),
#: how many attempts ran, and the last one (None: none ran in this server's run).
Done = Callable[[Queued, str, int, "Attempt | None"], None]


class AsyncQueue:
    """The durable queue and its delivery tasks."""

    def __init__(
        self,
        db: Database,
        run: Run,
        *,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        max_age: float = MAX_EVENT_AGE,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
        done: Done | None = None,
        throttle_backoff: tuple[float, float] = THROTTLE_BACKOFF,
    ) -> None:
        self.db = db
        self.run = run
        self.retry_delays = retry_delays
        self.max_age = max_age
        self.clock = clock
        self.settings = settings
        self.done = done
        self.throttle_backoff = throttle_backoff
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._freed: dict[str, asyncio.Event] = {}
        self._closed = False
        db.migrate(SCHEMA)

    def put(self, ref: FunctionRef, event: str) -> Queued:
        """Record an invocation (committed with the caller's request) and start it."""
        now = self.clock()
        request_id = str(uuid.uuid4())
        rows = self.db.statement(
            "INSERT INTO lambda_async_queue (name, qualifier, event, request_id, enqueued, due) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (ref.name, ref.qualifier, event, request_id, now, now),
        )
        item = Queued(int(rows[0]["id"]), ref, event, request_id, 0, now, now)
        self._start(item)
        return item

    async def start(self) -> None:
        """Deliver what a previous run of the server left queued (at start)."""
        rows = self.db.query("SELECT * FROM lambda_async_queue ORDER BY id")
        for row in rows:
            if row["id"] in self._tasks:
                continue
            ref = FunctionRef(row["name"], row["qualifier"])
            self._start(
                Queued(
                    int(row["id"]),
                    ref,
                    row["event"],
                    row["request_id"],
                    int(row["attempts"]),
                    float(row["enqueued"]),
                    float(row["due"]),
                )
            )
        if rows:
            log.info("delivering %d queued asynchronous invocations", len(rows))

    def waiting(self) -> int:
        """Invocations queued or running (the rows of the queue)."""
        row = self.db.query_one("SELECT COUNT(*) AS n FROM lambda_async_queue")
        return 0 if row is None else int(row["n"])

    def _start(self, item: Queued) -> None:
        if self._closed:
            return  # delivered at the next start
        task = asyncio.ensure_future(self._deliver(item))
        self._tasks[item.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(item.id, None))

    def wake(self, name: str) -> None:
        """A slot of function ``name`` is free (an invocation ended, its concurrency
        changed): its throttled invocations try again now."""
        event = self._freed.pop(name, None)
        if event is not None:
            event.set()

    def _policy(self, ref: FunctionRef) -> Policy:
        policy = self.settings(ref) if self.settings is not None else None
        return policy or Policy(len(self.retry_delays), self.max_age)

    async def _deliver(self, item: Queued) -> None:
        background.set(True)  # its writes join a group being retried (see db)
        backoff = self.throttle_backoff[0]
        last: Attempt | None = None
        while True:
            policy = self._policy(item.ref)
            expires = item.enqueued + policy.max_age
            wait = min(item.due, expires) - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.clock() >= expires:
                self._end(item, "EventAgeExceeded", item.attempts, last, policy)
                break
            try:
                result = await self.run(item)
            except asyncio.CancelledError:
                raise  # the server stops: delivered again at its next start
            except GiveUp as exc:
                self._end(item, str(exc), item.attempts + 1, last, policy)
                break
            except Throttled as exc:
                if backoff == self.throttle_backoff[0]:  # its first throttle
                    log.warning(
                        "asynchronous invocation %s of %s throttled (%s): tried again until "
                        "it is %d seconds old",
                        item.request_id,
                        item.ref.name,
                        exc,
                        policy.max_age,
                    )
                await self._throttled(item.ref.name, min(backoff, expires - self.clock()))
                backoff = min(backoff * 2, self.throttle_backoff[1])
                continue
            except Exception as exc:  # a refusal (the function is gone): dropped
                log.warning("asynchronous invocation of %s failed: %s", item.ref.name, exc)
                break
            last = result if isinstance(result, Attempt) else Attempt(result)
            attempts = item.attempts + 1
            if last.ok:
                self._end(item, "Success", attempts, last, policy)
                break
            if attempts > min(policy.retries, len(self.retry_delays)):
                self._end(item, "RetriesExhausted", attempts, last, policy)
                break
            due = self.clock() + self.retry_delays[attempts - 1]
            if due >= expires:  # the retry would come too late: given up now
                self._end(item, "EventAgeExceeded", attempts, last, policy)
                break
            item = replace(item, attempts=attempts, due=due)
            self.db.statement(
                "UPDATE lambda_async_queue SET attempts = ?, due = ? WHERE id = ?",
                (item.attempts, item.due, item.id),
            )
        self.db.statement("DELETE FROM lambda_async_queue WHERE id = ?", (item.id,))

    async def _throttled(self, name: str, wait: float) -> None:
        """Wait ``wait`` seconds, or less: until a slot of ``name`` is freed."""
        if wait <= 0:
            return
        freed = self._freed.setdefault(name, asyncio.Event())
        try:
            await asyncio.wait_for(freed.wait(), wait)
        except TimeoutError:
            pass

    def _end(
        self, item: Queued, condition: str, attempts: int, last: Attempt | None, policy: Policy
    ) -> None:
        if condition != "Success":
            log.warning(
                "asynchronous invocation %s of %s given up (%s) after %d attempts "
                "(%d retries allowed, maximum event age %d seconds)",
                item.request_id,
                item.ref.name,
                condition,
                attempts,
                policy.retries,
                policy.max_age,
            )
        if self.done is None:
            return
        try:
            self.done(item, condition, attempts, last)
        except Exception:  # a destination's failure never keeps the invocation queued
            log.exception("destination of asynchronous invocation %s failed", item.request_id)

    async def close(self) -> None:
        """Stop delivering (the rows stay: the next start delivers them)."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
