"""The SQLite database every durable part of montemap shares (one file in the data dir)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from montemap.engine import dbcheck, group_delay
from montemap.engine.db_pending import PENDING
from montemap.engine.db_pending import committed as committed  # re-exported
from montemap.engine.dbfail import (
    DatabaseUnavailable,
    RecordingConnection,
    describe_error,
    execute_raw,
    executemany_raw,
    is_storage_error,
    resolve_waiters,
    write_rows,
)

log = logging.getLogger(__name__)

#: First and longest wait between two tries of a group whose COMMIT failed (seconds).
RETRY_FIRST = 0.02
RETRY_MAX = 1.0

#: The group (its serial number) the current request or task last wrote to.
_WROTE: contextvars.ContextVar[int] = contextvars.ContextVar("montemap_db_wrote", default=-1)

#: True in the engine's own tasks (executions): their writes are not refused while
#: the database cannot commit, they join the group that is being retried.
background: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "montemap_db_background", default=False
)

#: COMMITs between two checkpoints (the WAL's pages copied back into the database file).
CHECKPOINT_EVERY = 64

#: Longest a group's COMMIT waits for more work to join it (seconds).
MAX_GROUP_DELAY = 0.002


class Database:
    """One SQLite connection in WAL mode, used from the server's event-loop thread.

    **Group commit.** A transaction opened on a thread running an asyncio
    event loop becomes a savepoint inside one group transaction, committed
    at the end of the first loop turn in which no more work joined it (at
    most ``MAX_GROUP_DELAY`` after it was opened), or by :meth:`flush`. Under
    load, the requests that are in flight all join one group; an idle server
    commits after one more turn. The API awaits :func:`committed` before any
    response is sent, so nothing is acknowledged before it is committed, and
    the responses of one group share its COMMIT. Each ``transaction()`` stays
    atomic (an exception rolls back to its savepoint only) and reads on this
    connection see every write at once. A transaction opened anywhere else
    (no running loop, or another thread) commits before it returns, together
    with the pending group. ``group_commit=False`` commits every transaction
    on its own.

    **Failures (the invariant).** *Nothing answered 200 is lost, and nothing
    answered with an error later appears as done.*

    - A statement that fails (a value SQLite cannot bind, a constraint) is
      undone alone (its savepoint, or SQLite's statement rollback) and raises
      to the code that ran it: that request fails, the group goes on.
    - Writes buffered for the commit hooks are written row by row when a batch
      fails (see :meth:`write_rows`): a bad row is dropped and reported to its
      owner (the store fails that execution), the others are written.
    - If the COMMIT fails (disk full, I/O error), the whole group is rolled
      back, and every write of it (each is logged while the group is open) is
      applied again in a new transaction and committed again, with backoff
      (``RETRY_FIRST`` .. ``RETRY_MAX``), until it commits. The requests that
      wrote to it are not answered meanwhile: they get their 200 when it
      commits (or nothing at all if the process dies, their work then being
      lost as it was never acknowledged). While it fails, writes from new
      requests are refused at once with :class:`DatabaseUnavailable` (503,
      nothing written), requests that wrote nothing are answered, and the
      engine's own writes (``background``) join the retried group, so
      executions carry on as soon as the disk has room again.

    ``synchronous=NORMAL`` in WAL mode means a committed transaction survives a
    killed process (SIGKILL); only an operating-system crash or power loss can
    lose the last transactions before a checkpoint. A SIGKILL can lose the
    group not yet committed: work nothing was told about.

    **Checkpoints** (which fsync) run every ``CHECKPOINT_EVERY`` commits; with
    a running loop, on a connection of their own in the loop's executor, so
    the event loop never waits for the disk. They change nothing about what
    a crash can lose.

    **Start-up.** A database file is checked before it is used (see
    :mod:`montemap.engine.dbcheck`): empty, foreign, corrupt or newer files
    are refused with a one-line :class:`~montemap.errors.MontemapError`.
    """

    def __init__(self, path: str | Path, *, group_commit: bool = True) -> None:
        self.path = str(path)
        self.min_group_delay = group_delay.group_delay()  # MONTEMAP_COMMIT_DELAY_MS (seconds)
        key = id(self)
        self._ref = weakref.ref(self, lambda _: PENDING.pop(key, None))
        self.closed_cleanly = False  # closed cleanly, unchanged since: quick_check skipped
        created: list[Path] = []  # the files this start makes, removed if it fails
        if self.path != ":memory:":
            self.closed_cleanly, created = dbcheck.before_open(Path(self.path))
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=512,
            factory=RecordingConnection,
        )
        assert isinstance(conn, RecordingConnection)
        self.conn: RecordingConnection = conn
        try:
            if self.path != ":memory:":
                dbcheck.check_database(self.conn, Path(self.path), self.closed_cleanly)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA busy_timeout=5000")
            self.conn.execute("PRAGMA wal_autocheckpoint=0")  # see _maybe_checkpoint
            # A page cache that holds the working set (the default is 2 MB): fewer reads
            # of pages back from the WAL and the file on a busy server.
            self.conn.execute("PRAGMA cache_size=-65536")
            dbcheck.record_schema_version(self.conn)
        except BaseException:
            self.conn.close()
            dbcheck.remove_files(created)  # a new database that could not be made
            raise
        self.group_commit = group_commit
        self._lock = threading.RLock()
        self._depth = 0
        self._open = False  # a group transaction is open (BEGIN done, COMMIT pending)
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled
        self._group_opened = 0.0  # loop time the scheduled flush was first due
        self._grew = False  # work joined the group since the flush last looked
        self._loop: asyncio.AbstractEventLoop | None = None  # the last loop seen, and its thread
        self._loop_thread = 0
        self._waiters: list[asyncio.Future[None]] = []  # awaiting the group's COMMIT
        self._commit_hooks: list[Callable[[sqlite3.Connection], None]] = []
        self._undo_hooks: list[tuple[Callable[[], object], Callable[[object], None]]] = []
        self._lost_hooks: list[Callable[[], None]] = []
        self._redo: list[tuple[str, Any, bool]] = []  # the open group's writes, in order
        self._serial = 0  # the open group's number (COMMITs so far)
        self._failure: BaseException | None = None  # why the group's last COMMIT failed
        self._retry: asyncio.TimerHandle | None = None
        self._attempts = 0  # failed tries of the group being retried (sets the backoff)
        self.commit_failures = 0  # failed COMMITs (for tests and /metrics)
        self.commits = 0  # COMMITs issued (for tests and benchmarks)
        self._checkpointed_at = 0  # self.commits at the last checkpoint started
        self._checkpointing = False
        self.checkpoints = 0  # checkpoints finished off the loop (for tests and benchmarks)

    def add_commit_hook(self, hook: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``hook(conn)`` inside every transaction just before it commits.

        For writes that may be coalesced: a store keeps the latest row of
        something changed several times in a group and writes it once here.
        """
        self._commit_hooks.append(hook)

    def add_undo_hook(
        self,
        mark: Callable[[], object],
        undo: Callable[[object], None],
        lost: Callable[[], None] | None = None,
    ) -> None:
        """Keep work buffered for the commit hooks as atomic as the transaction.

        ``mark()`` runs when a (top-level) transaction starts; if it rolls
        back, ``undo(mark)`` drops what was buffered since. ``lost()`` runs when
        transactions that ended are dropped after all (a plain transaction's COMMIT
        failed, a failed group was given up): forget what was remembered of them.
        """
        self._undo_hooks.append((mark, undo))
        if lost is not None:
            self._lost_hooks.append(lost)

    def _lost(self) -> None:
        for hook in self._lost_hooks:
            hook()

    def _marks(self) -> list[object]:
        return [mark() for mark, _ in self._undo_hooks]

    def _undo(self, marks: list[object]) -> None:
        for (_, undo), state in zip(self._undo_hooks, marks, strict=True):
            undo(state)

    def migrate(self, schema: str) -> None:
        """Apply a module's ``CREATE TABLE IF NOT EXISTS`` schema."""
        with self._lock:
            self.flush()
            self.conn.executescript(schema)

    @property
    def grouping(self) -> bool:
        """Whether a transaction started here now would join a group (commit later)."""
        return self._group_loop() is not None

    def _group_loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop when this transaction may join a group, else None."""
        if not self.group_commit:
            return None
        loop = self._loop
        thread = threading.get_ident()
        if loop is not None and self._loop_thread == thread and loop.is_running():
            return loop  # (asyncio.get_running_loop() costs a getpid() system call)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._loop, self._loop_thread = loop, thread
        return loop

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth > 0:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            loop = self._group_loop()
            if loop is None and not self._open and self._failure is None:
                yield from self._plain()
                return
            self._join()
            conn = self.conn
            execute_raw(conn, "SAVEPOINT txn")
            logged = len(self._redo)
            marks = self._marks()
            self._depth = 1
            try:
                yield conn
            except BaseException as exc:
                self._depth = 0
                if conn.in_transaction:
                    execute_raw(conn, "ROLLBACK TO txn")
                    execute_raw(conn, "RELEASE txn")
                del self._redo[logged:]
                self._undo(marks)
                self._failed_inside(exc)
                if loop is None:
                    self.flush()
                if isinstance(exc, sqlite3.Error) and is_storage_error(exc):
                    raise DatabaseUnavailable(self.path, exc) from exc
                raise
            self._depth = 0
            execute_raw(conn, "RELEASE txn")
            self._leave(loop)

    def statement(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[sqlite3.Row]:
        """Run one write statement (atomic by itself) as a transaction of its own; its rows.

        Cheaper than ``transaction()`` for a single statement: it joins the
        group without a savepoint (SQLite undoes a failed statement alone).
        """
        with self._lock:
            if self._depth > 0:
                return self.conn.execute(sql, params).fetchall()
            loop = self._group_loop()
            self._join()
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                self._failed_inside(exc)
                if is_storage_error(exc):
                    raise DatabaseUnavailable(self.path, exc) from exc
                raise
            finally:
                self._leave(loop)

    def _failed_inside(self, exc: BaseException) -> None:
        """A statement in the open group failed: if SQLite rolled the whole group back
        with it (disk full, I/O error), apply the group again (see ``_commit_failed``)."""
        if self._open and not self.conn.in_transaction and isinstance(exc, Exception):
            self._commit_failed(exc)

    def touch(self) -> None:
        """Make sure a commit (and its hooks) follows: for work only hooks write."""
        with self._lock:
            if self._depth > 0:
                return
            loop = self._group_loop()
            if self._failure is not None and loop is not None:
                # Buffered work joins the group being retried, even while it cannot
                # be applied again: the retry's hooks write it.
                _WROTE.set(self._serial)
                self._ensure_retry(loop)
                return
            self._join()
            self._leave(loop)

    def _join(self) -> None:
        """Open the group transaction if needed (refused while a failed group is retried)."""
        if self._failure is not None and not background.get():
            raise DatabaseUnavailable(self.path, self._failure)
        if not self._open:
            if self._failure is not None:
                self._reapply()
                if not self._open:
                    raise DatabaseUnavailable(self.path, self._failure)
            else:
                execute_raw(self.conn, "BEGIN IMMEDIATE")
                self._open = True
                self.conn.redo = self._redo
                PENDING[id(self)] = self._ref
        _WROTE.set(self._serial)

    def _leave(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Commit now without a loop; with one, when its turn ends."""
        if loop is None:
            self.flush()
        elif self._failure is None:
            self._schedule_flush(loop)

    def _plain(self) -> Iterator[sqlite3.Connection]:
        """A transaction of its own: BEGIN ... COMMIT (ROLLBACK on error)."""
        execute_raw(self.conn, "BEGIN IMMEDIATE")
        marks = self._marks()
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            execute_raw(self.conn, "ROLLBACK")
            self._undo(marks)
            raise
        try:
            for hook in self._commit_hooks:
                hook(self.conn)
            execute_raw(self.conn, "COMMIT")
        except BaseException:
            self._depth = 0
            if self.conn.in_transaction:
                execute_raw(self.conn, "ROLLBACK")
            self._lost()
            raise
        self._depth = 0
        self.commits += 1
        self._maybe_checkpoint()

    def write_rows(self, sql: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, Exception]]:
        """Write ``rows`` in the current transaction; the rows refused (see ``dbfail``)."""
        return write_rows(self.conn, sql, rows)

    def _schedule_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Work joined the group: commit it from ``loop`` once no more does (see the class)."""
        self._grew = True
        self._ensure_flush(loop)

    def _ensure_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._failure is not None:
            self._ensure_retry(loop)
        elif self._flush_loop is not loop:
            self._flush_loop = loop
            self._group_opened = loop.time()
            self._grew = False
            if self.min_group_delay:  # opt-in: the window's writes share one COMMIT
                loop.call_later(self.min_group_delay, self._scheduled_flush)
            else:
                loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        loop = self._flush_loop
        if (
            loop is not None
            and self._grew
            and self._open
            and loop.time() - self._group_opened < MAX_GROUP_DELAY
        ):
            self._grew = False  # more work joined during the last turn: wait one more
            loop.call_soon(self._scheduled_flush)
            return
        self._flush_loop = None
        if self._failure is None:
            self.flush()

    async def committed(self) -> None:
        """Return once the pending group (if any) is committed.

        While a failed group is retried, a request (task) that wrote to it
        waits for its COMMIT; one that did not returns at once.
        """
        if not self._open and self._failure is None:
            return
        if self._failure is not None and _WROTE.get() != self._serial:
            return
        loop = self._group_loop() or asyncio.get_running_loop()  # the former without getpid()
        fut = loop.create_future()
        self._waiters.append(fut)
        self._ensure_flush(loop)
        await fut

    def flush(self) -> None:
        """Commit the pending group transaction now (no-op when there is none).

        If the COMMIT fails with an event loop to retry on, the group is
        applied again and retried later (see the class); without one, it is
        rolled back and the error raised.
        """
        with self._lock:
            if self._depth > 0:
                return  # a transaction in progress commits it later
            if not self._open:
                if self._failure is not None and self._group_loop() is None:
                    self._abandon(self._failure)
                return
            try:
                for hook in self._commit_hooks:
                    hook(self.conn)
                execute_raw(self.conn, "COMMIT")
            except Exception as exc:
                self._commit_failed(exc)
                return
            self._open = False
            self.conn.redo = None
            self._redo = []
            PENDING.pop(id(self), None)
            waiters, self._waiters = self._waiters, []
            if self._failure is not None:
                log.warning("database %s commits again", self.path)
                self._failure = None
                self._attempts = 0
            self._serial += 1
            self.commits += 1
            resolve_waiters(waiters, None)
            self._maybe_checkpoint()

    def _commit_failed(self, exc: Exception) -> None:
        """The group's COMMIT (or a commit hook) failed: roll back, apply again, retry."""
        self.commit_failures += 1
        self._attempts += 1
        if self._failure is None:
            log.error("database %s cannot commit (%s): retrying", self.path, describe_error(exc))
        self._failure = exc
        self._open = False
        self.conn.redo = None
        if self.conn.in_transaction:
            execute_raw(self.conn, "ROLLBACK")
        loop = self._group_loop()
        if loop is None:
            self._abandon(exc)
            return
        self._reapply()
        self._ensure_retry(loop)

    def _abandon(self, exc: BaseException) -> None:
        """No loop to retry on: drop the group and tell everyone waiting for it."""
        if self.conn.in_transaction:
            execute_raw(self.conn, "ROLLBACK")
        self._open = False
        self.conn.redo = None
        self._redo = []
        self._failure = None
        self._lost()
        PENDING.pop(id(self), None)
        waiters, self._waiters = self._waiters, []
        resolve_waiters(waiters, exc)
        raise DatabaseUnavailable(self.path, exc) from exc

    def _reapply(self) -> None:
        """Begin a new group transaction holding every write of the failed one."""
        conn = self.conn
        try:
            execute_raw(conn, "BEGIN IMMEDIATE")
            for sql, params, many in self._redo:
                if many:
                    executemany_raw(conn, sql, params)
                else:
                    execute_raw(conn, sql, params)
        except Exception as exc:
            self._failure = exc
            if conn.in_transaction:
                execute_raw(conn, "ROLLBACK")
            return
        self._open = True
        conn.redo = self._redo
        PENDING[id(self)] = self._ref

    def _ensure_retry(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._retry is None and not loop.is_closed():
            PENDING[id(self)] = self._ref
            attempts = max(self._attempts, 1)
            delay = min(RETRY_MAX, RETRY_FIRST * 2 ** min(attempts - 1, 10))
            self._retry = loop.call_later(delay, self._retry_group)

    def _retry_group(self) -> None:
        self._retry = None
        with self._lock:
            if self._failure is None:
                return
            if self._depth > 0:
                loop = self._group_loop()
                if loop is not None:
                    self._ensure_retry(loop)
                return
            if not self._open:
                self._reapply()
            if self._open:
                self.flush()
            elif self._loop is not None:
                self._attempts += 1
                self._ensure_retry(self._loop)

    @property
    def pending(self) -> bool:
        """Whether the group holds work (visible on this connection) not yet committed."""
        return self._open or self._failure is not None

    @property
    def failure(self) -> BaseException | None:
        """Why the pending group could not commit (None while commits succeed)."""
        return self._failure

    def query(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[sqlite3.Row]:
        with self._lock:
            return execute_raw(self.conn, sql, params).fetchall()

    def query_one(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = execute_raw(self.conn, sql, params).fetchone()
            return row

    def _maybe_checkpoint(self) -> None:
        """Start a checkpoint when enough commits have piled up in the WAL."""
        if self.commits - self._checkpointed_at < CHECKPOINT_EVERY or self.path == ":memory:":
            return
        loop = self._group_loop()
        if loop is None or self.commits - self._checkpointed_at > 16 * CHECKPOINT_EVERY:
            self._checkpointed_at = self.commits  # no loop, or the executor fell behind
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        elif not self._checkpointing:
            self._checkpointed_at = self.commits
            try:
                started = loop.run_in_executor(None, self._checkpoint)
            except RuntimeError:  # the loop's executor is shutting down
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                return
            self._checkpointing = True
            started.add_done_callback(self._checkpointed)

    def _checkpoint(self) -> None:
        """Copy committed WAL pages into the database file (runs off the loop thread)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            log.warning("WAL checkpoint failed: %r", done.exception())
        else:
            self.checkpoints += 1

    @property
    def checkpointing(self) -> bool:
        """Whether a checkpoint is running off the loop now."""
        return self._checkpointing

    def close(self) -> None:
        with self._lock:
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            try:
                self.flush()
                if self._failure is not None:
                    raise DatabaseUnavailable(self.path, self._failure)
            except DatabaseUnavailable as exc:
                log.error("closing %s without its last group: %s", self.path, exc)
                PENDING.pop(id(self), None)
                resolve_waiters(self._waiters, exc)
            finally:
                self.conn.close()
        if self.path != ":memory:" and self._failure is None:
            dbcheck.mark_clean_close(Path(self.path))  # only if no WAL frames are left
