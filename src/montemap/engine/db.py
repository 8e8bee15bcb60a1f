"""The SQLite database every durable part of montemap shares (one file in the data dir)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

#: COMMITs between two checkpoints (the WAL's pages copied back into the database file).
CHECKPOINT_EVERY = 64

#: Longest a group's COMMIT waits for more work to join it (seconds).
MAX_GROUP_DELAY = 0.002

#: Databases whose group transaction holds work not yet committed.
#: Databases with a group open, by id (weak: a WeakSet is slow to iterate per request).
_PENDING: dict[int, weakref.ref[Database]] = {}


async def committed() -> None:
    """Return once everything written so far is committed: await before acknowledging.

    The API awaits this before any response leaves, so a response never
    reports work that a crash could still lose. Responses finished in the
    same event-loop turn share one COMMIT (at the end of the turn).
    """
    # Only the groups pending now: waiting until nothing is pending at all would
    # never end while background work (a Map Run) writes in every loop turn.
    for ref in list(_PENDING.values()):
        db = ref()
        if db is not None:
            await db.committed()


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

    ``synchronous=NORMAL`` in WAL mode means a committed transaction survives a
    killed process (SIGKILL); only an operating-system crash or power loss can
    lose the last transactions before a checkpoint. A SIGKILL can lose the
    group not yet committed: work nothing was told about.

    **Checkpoints** (which fsync) run every ``CHECKPOINT_EVERY`` commits; with
    a running loop, on a connection of their own in the loop's executor, so
    the event loop never waits for the disk. They change nothing about what
    a crash can lose.
    """

    def __init__(self, path: str | Path, *, group_commit: bool = True) -> None:
        self.path = str(path)
        key = id(self)
        self._ref = weakref.ref(self, lambda _: _PENDING.pop(key, None))
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA wal_autocheckpoint=0")  # see _maybe_checkpoint
        # A page cache that holds the working set (the default is 2 MB): fewer reads
        # of pages back from the WAL and the file on a busy server.
        self.conn.execute("PRAGMA cache_size=-65536")
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

    def add_undo_hook(self, mark: Callable[[], object], undo: Callable[[object], None]) -> None:
        """Keep work buffered for the commit hooks as atomic as the transaction.

        ``mark()`` runs when a (top-level) transaction starts; if it rolls
        back, ``undo(mark)`` drops what was buffered since.
        """
        self._undo_hooks.append((mark, undo))

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
            if loop is None and not self._open:
                yield from self._plain()
                return
            if not self._open:
                self.conn.execute("BEGIN IMMEDIATE")
                self._open = True
                _PENDING[id(self)] = self._ref
            self.conn.execute("SAVEPOINT txn")
            marks = self._marks()
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK TO txn")
                self.conn.execute("RELEASE txn")
                self._undo(marks)
                if loop is None:
                    self.flush()
                raise
            self._depth = 0
            self.conn.execute("RELEASE txn")
            if loop is None:
                self.flush()
            else:
                self._schedule_flush(loop)

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
            loop = self._join()
            try:
                return self.conn.execute(sql, params).fetchall()
            finally:
                self._leave(loop)

    def touch(self) -> None:
        """Make sure a commit (and its hooks) follows: for work only hooks write."""
        with self._lock:
            if self._depth == 0:
                self._leave(self._join())

    def _join(self) -> asyncio.AbstractEventLoop | None:
        """Open the group transaction if needed; the loop that will commit it (or None)."""
        loop = self._group_loop()
        if not self._open:
            self.conn.execute("BEGIN IMMEDIATE")
            self._open = True
            _PENDING[id(self)] = self._ref
        return loop

    def _leave(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Commit now without a loop; with one, when its turn ends."""
        if loop is None:
            self.flush()
        else:
            self._schedule_flush(loop)

    def _plain(self) -> Iterator[sqlite3.Connection]:
        """A transaction of its own: BEGIN ... COMMIT (ROLLBACK on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        marks = self._marks()
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            self._undo(marks)
            raise
        try:
            for hook in self._commit_hooks:
                hook(self.conn)
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")
        self.commits += 1
        self._maybe_checkpoint()

    def _schedule_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Work joined the group: commit it from ``loop`` once no more does (see the class)."""
        self._grew = True
        self._ensure_flush(loop)

    def _ensure_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._flush_loop is not loop:
            self._flush_loop = loop
            self._group_opened = loop.time()
            self._grew = False
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
        self.flush()

    async def committed(self) -> None:
        """Return once the pending group (if any) is committed; raise if its COMMIT failed."""
        if not self._open:
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiters.append(fut)
        self._ensure_flush(loop)
        await fut

    def flush(self) -> None:
        """Commit the pending group transaction now (no-op when there is none)."""
        with self._lock:
            if not self._open or self._depth > 0:
                return  # nothing pending, or a transaction in progress commits it later
            self._open = False
            _PENDING.pop(id(self), None)
            waiters, self._waiters = self._waiters, []
            try:
                for hook in self._commit_hooks:
                    hook(self.conn)
                self.conn.execute("COMMIT")
            except BaseException as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                _resolve(waiters, exc)
                raise
            self.commits += 1
            _resolve(waiters, None)
            self._maybe_checkpoint()

    @property
    def pending(self) -> bool:
        """Whether the group holds work (visible on this connection) not yet committed."""
        return self._open

    def query(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
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
            self.flush()
            self.conn.close()


def _resolve(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Tell the coroutines awaiting a COMMIT how it went (on their own loops)."""
    for fut in waiters:
        loop = fut.get_loop()
        if loop.is_closed():
            continue
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _settle(fut, error)
        else:
            loop.call_soon_threadsafe(_settle, fut, error)


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(RuntimeError(f"commit failed: {error!r}"))
