"""Checks of the database file at start-up: refuse what is not a sound montemap database.

A server that silently starts on an empty file, or that finds a corrupt page
only when a request reads it, loses the user's data a second time. Before a
:class:`~montemap.engine.db.Database` uses a file, it is checked here:

- an empty (0-byte) file is refused, never taken for a new database;
- a file that is not SQLite (no SQLite header) is refused;
- ``PRAGMA quick_check`` must answer ``ok``; it reads every page, so it is
  bounded by ``MONTEMAP_DB_CHECK_SECONDS`` (default ``QUICK_CHECK_SECONDS``):
  a larger file is checked as far as that time allows, and the rest is left
  to SQLite's own checks as pages are read (see docs/durability.md);
- ``PRAGMA user_version`` must not be newer than :data:`SCHEMA_VERSION`.

Each refusal is a :class:`DatabaseFileError` (a one-line message naming the
file and saying how to recover), which the command line prints as one line.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from montemap.errors import MontemapError

log = logging.getLogger(__name__)

#: The schema version this montemap writes (``PRAGMA user_version``); 0: older montemap.
#: 2: large texts stored once in ``texts`` (see :mod:`montemap.engine.texts`); a
#: montemap that knows only 1 would misread such rows, so it refuses the file.
SCHEMA_VERSION = 2

#: Longest the start-up ``quick_check`` may run (seconds), unless the environment says.
QUICK_CHECK_SECONDS = 10.0

_HEADER = b"SQLite format 3\x00"
_RECOVER = (
    "restore it from a backup, or move it away (with its -wal and -shm files) to start a new one"
)


class DatabaseFileError(MontemapError):
    """The database file cannot be used (empty, not SQLite, corrupt, newer)."""


def check_file(path: Path) -> None:
    """Refuse an existing file that is empty or not SQLite (a missing one is new)."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise DatabaseFileError(
                f"{path} is empty: it is not a montemap database; move it away to start "
                "a new one, or restore it from a backup"
            )
        with path.open("rb") as f:
            head = f.read(len(_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DatabaseFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if head != _HEADER:
        raise DatabaseFileError(f"{path} is not a SQLite database: {_RECOVER}")


def check_budget() -> float:
    """Seconds the start-up ``quick_check`` may take (``MONTEMAP_DB_CHECK_SECONDS``)."""
    text = os.environ.get("MONTEMAP_DB_CHECK_SECONDS", "")
    try:
        return float(text) if text else QUICK_CHECK_SECONDS
    except ValueError:
        raise DatabaseFileError(
            f"MONTEMAP_DB_CHECK_SECONDS must be a number of seconds, not {text!r}"
        ) from None


def check_database(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a corrupt database, or one written by a newer montemap."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise DatabaseFileError(
                f"{path} has schema version {version}, newer than this montemap knows "
                f"({SCHEMA_VERSION}): upgrade montemap, or {_RECOVER}"
            )
        problem = quick_check(conn, check_budget())
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(
            f"{path} is corrupt ({' '.join(str(exc).split())}): {_RECOVER}"
        ) from None
    if problem is not None:
        raise DatabaseFileError(f"{path} is corrupt ({problem}): {_RECOVER}")


def quick_check(conn: sqlite3.Connection, seconds: float) -> str | None:
    """``PRAGMA quick_check`` for at most ``seconds``: the first problem, or None."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" not in str(exc):
            raise
        log.warning(
            "quick_check of the database stopped after %.1f s (MONTEMAP_DB_CHECK_SECONDS):"
            " pages not checked are verified as they are read",
            time.monotonic() - started,
        )
        return None
    finally:
        conn.set_progress_handler(None, 0)
    result = str(rows[0][0]) if rows else "ok"
    return (
        None if result == "ok" else " ".join(result.replace("*** in database main ***", "").split())
    )


def record_schema_version(conn: sqlite3.Connection) -> None:
    """Mark the database with :data:`SCHEMA_VERSION` (a new or older one)."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
