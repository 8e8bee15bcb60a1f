"""Failures of the database: which errors are the storage's, the 503 they become,
and the connection that logs a group's writes so a failed COMMIT can be applied again
(see :class:`montemap.engine.db.Database`)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from montemap.engine.errors import EngineUnavailable

#: SQLite primary result codes that say the storage failed, not the statement:
#: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY, SQLITE_IOERR,
#: SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL.
STORAGE_ERRORS = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15})

execute_raw = sqlite3.Connection.execute
executemany_raw = sqlite3.Connection.executemany


class DatabaseUnavailable(EngineUnavailable):
    """The database at ``path`` cannot commit now (disk full, I/O error): a write is refused.

    The APIs answer it as ``ServiceUnavailable`` (503; :mod:`montemap.api.errors`).
    """

    def __init__(self, path: str, cause: BaseException) -> None:
        super().__init__(
            f"the database {path} cannot commit ({describe_error(cause)}); writes are refused "
            "until it can, and nothing acknowledged is lost: retry later"
        )
        self.path = path
        self.reason = describe_error(cause)


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the storage failing (disk full, I/O error), not one statement."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in STORAGE_ERRORS


def describe_error(exc: BaseException) -> str:
    """A one-line, printable description of a database error."""
    return ascii(str(exc) or type(exc).__name__).strip("'\"")


class RecordingConnection(sqlite3.Connection):
    """A connection that logs the writes of the open group (to apply them again)."""

    redo: list[tuple[str, Any, bool]] | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cur = execute_raw(self, sql, parameters)
        if self.redo is not None:
            self.redo.append((sql, parameters, False))
        return cur

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        if self.redo is None:
            return executemany_raw(self, sql, parameters)
        rows = list(parameters)
        cur = executemany_raw(self, sql, rows)
        self.redo.append((sql, rows, True))
        return cur


def write_rows(
    conn: RecordingConnection, sql: str, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, Exception]]:
    """Write ``rows`` with ``sql`` (one change each) in the open transaction; the refused.

    One ``executemany`` (no savepoint: this runs for every group). If a row
    is refused for a reason other than the storage (see
    :func:`is_storage_error`, raised as is), the rows before it are written
    (``total_changes`` tells how many), it is returned with its error, and
    the rest are written the same way.
    """
    refused: list[tuple[Any, Exception]] = []
    while rows:
        before = conn.total_changes
        try:
            conn.executemany(sql, rows)
            return refused
        except Exception as exc:
            done = conn.total_changes - before
            if is_storage_error(exc) or not conn.in_transaction or not 0 <= done < len(rows):
                raise
            if conn.redo is not None and done:
                conn.redo.append((sql, rows[:done], True))  # written before the bad row
            refused.append((rows[done], exc))
            rows = rows[done + 1 :]
    return refused


def resolve_waiters(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Tell the coroutines awaiting a COMMIT how it went (on their own loops)."""
    if not waiters:
        return
    try:  # once, not per waiter: it costs a getpid() system call
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for fut in waiters:
        loop = fut.get_loop()
        if loop.is_closed():
            continue
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
        fut.set_exception(RuntimeError(f"commit failed: {describe_error(error)}"))
