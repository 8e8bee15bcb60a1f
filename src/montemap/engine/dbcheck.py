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

**A clean close lets the next start skip ``quick_check``.** After the last
connection closed (the WAL checkpointed and deleted), :func:`mark_clean_close`
writes ``<db>-clean`` (tmp + fsync + rename + fsync of the folder): the file's
identity (device, inode, size, mtime, ctime) and schema version. At the next
open, :func:`take_clean_close` removes that marker (a crash while running
leaves none) and says whether it matched the file exactly with no WAL frames
left; only then is ``quick_check`` skipped. Anything else (no marker, an
unreadable one, a file written, replaced or restored since, a non-empty
``-wal``) and the check runs as before. The marker is written only once the
file system's clock has moved past the file's mtime, so a later write cannot
carry the same timestamp.

Each refusal is a :class:`DatabaseFileError` (a one-line message naming the
file and saying how to recover), which the command line prints as one line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from montemap import option_types
from montemap.errors import MontemapError

log = logging.getLogger(__name__)

#: The schema version this montemap writes (``PRAGMA user_version``); 0: older montemap.
#: 2: large texts stored once in ``texts`` (see :mod:`montemap.engine.texts`); a
#: montemap that knows only 1 would misread such rows, so it refuses the file.
SCHEMA_VERSION = 2

#: Longest the start-up ``quick_check`` may run (seconds), unless the environment says.
QUICK_CHECK_SECONDS = 10.0
#: A budget above this (a day) is no bound: no timer is set (``inf`` cannot be one).
NO_TIMER_ABOVE = 86_400.0

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


def before_open(path: Path) -> tuple[bool, list[Path]]:
    """What a start does before it opens the file at ``path``: refuse a bad check budget
    (before any file is made), make the folder, refuse a file that is not a database
    (:func:`check_file`); whether it was closed cleanly (:func:`take_clean_close`), and
    the database's files (``path``, ``-wal``, ``-shm``) that do not exist yet: those a
    start that fails before the database is made removes (:func:`remove_files`), so that
    an empty file does not refuse every later start."""
    check_budget()
    path.parent.mkdir(parents=True, exist_ok=True)
    check_file(path)
    closed_cleanly = take_clean_close(path)
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return closed_cleanly, [] if path.exists() else [f for f in files if not f.exists()]


def remove_files(paths: list[Path]) -> None:
    """Remove what :func:`before_open` listed (quietly: a start's failure is the error)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s after a failed start: %s", path, exc)


def check_budget(env: Mapping[str, str] | None = None) -> float:
    """Seconds the start-up ``quick_check`` may take (``MONTEMAP_DB_CHECK_SECONDS`` in
    ``env``, the process environment by default)."""
    text = (os.environ if env is None else env).get("MONTEMAP_DB_CHECK_SECONDS", "")
    if not text:
        seconds = QUICK_CHECK_SECONDS
    elif option_types.is_number_text(text.strip()):  # ASCII: ``float`` also reads ``1_0``, ``١``
        seconds = float(text)
    else:
        seconds = math.nan
    if not seconds >= 0:  # also NaN; ``inf``: no bound (a full check)
        raise DatabaseFileError(
            f"MONTEMAP_DB_CHECK_SECONDS must be a number of seconds (0 or more, or inf),"
            f" not {text!r}"
        )
    return seconds


def check_database(conn: sqlite3.Connection, path: Path, closed_cleanly: bool = False) -> None:
    """Refuse a corrupt database, or one written by a newer montemap.

    ``closed_cleanly`` (from :func:`take_clean_close`) skips ``quick_check``.
    """
    budget = check_budget()  # a bad setting is refused even when the check is skipped
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise DatabaseFileError(
                f"{path} has schema version {version}, newer than this montemap knows "
                f"({SCHEMA_VERSION}): upgrade montemap, or {_RECOVER}"
            )
        if closed_cleanly:
            log.info("%s was closed cleanly and is unchanged since: quick_check skipped", path)
            return
        problem = quick_check(conn, budget, name=str(path))
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(
            f"{path} is corrupt ({' '.join(str(exc).split())}): {_RECOVER}"
        ) from None
    if problem is not None:
        raise DatabaseFileError(f"{path} is corrupt ({problem}): {_RECOVER}")


def quick_check(
    conn: sqlite3.Connection, seconds: float, *, name: str = "the database"
) -> str | None:
    """``PRAGMA quick_check`` for at most ``seconds``: the first problem, or None (the
    check passed, or was stopped at the deadline: each is logged, ``name`` in the first).

    Two things stop it at the deadline: SQLite's progress handler, asked every 10,000
    steps of the check's program (close to the deadline while the pages are cached), and
    a timer that interrupts the connection (:class:`_Interrupter`): a step that reads
    pages from the disk can take seconds, and with the handler alone a 4 GB database not
    in the page cache was checked for 40 s on a 2 s budget.
    """
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    interrupter = _Interrupter(conn, seconds) if seconds < NO_TIMER_ABOVE else None
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
        if interrupter is not None:
            interrupter.cancel()
        conn.set_progress_handler(None, 0)
    result = str(rows[0][0]) if rows else "ok"
    if result == "ok":
        log.info("quick_check of %s: ok in %.2f s", name, time.monotonic() - started)
        return None
    return " ".join(result.replace("*** in database main ***", "").split())


class _Interrupter:
    """Interrupts ``conn`` after ``seconds`` (on a timer thread) unless cancelled first.

    Cancelling and interrupting take one lock, so once :meth:`cancel` returns the
    connection is never interrupted: the statements after the check run in full.
    """

    def __init__(self, conn: sqlite3.Connection, seconds: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._armed = True
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._armed:
                self._conn.interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._armed = False
        self._timer.cancel()


def record_schema_version(conn: sqlite3.Connection) -> None:
    """Mark the database with :data:`SCHEMA_VERSION` (a new or older one)."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


#: Seconds :func:`mark_clean_close` waits for the file system's clock to pass the file's mtime.
CLOCK_WAIT_SECONDS = 0.1

_MARK_FORMAT = 1


def clean_mark_path(path: Path) -> Path:
    """The clean-close marker of database ``path``: ``<name>-clean`` beside it."""
    return path.with_name(path.name + "-clean")


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    return {
        "format": _MARK_FORMAT,
        "schema": SCHEMA_VERSION,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def _wal_empty(path: Path) -> bool:
    try:
        return path.with_name(path.name + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def take_clean_close(path: Path) -> bool:
    """Remove ``path``'s clean-close marker; whether it proves the file sound.

    True only when the marker names exactly this file as it is now (device,
    inode, size, mtime, ctime), this schema version, and no WAL frames wait.
    The marker is removed (durably) before the database is opened for
    writing, so a server that dies while running leaves none behind.
    """
    mark = clean_mark_path(path)
    try:
        text = mark.read_text()
    except FileNotFoundError:
        return False
    except OSError:
        text = ""
    try:
        mark.unlink()
        _fsync(path.parent)
        return json.loads(text) == _identity(path) and _wal_empty(path)
    except (OSError, ValueError):
        return False


def mark_clean_close(path: Path) -> bool:
    """After the last connection closed: record that ``path`` was closed cleanly.

    Nothing is written when WAL frames are left (another connection still
    open, a checkpoint that could not finish) or when the file system's clock
    does not pass the file's mtime within :data:`CLOCK_WAIT_SECONDS`. Whether
    a marker was written; a failure to write it only costs the next start
    its check.
    """
    mark = clean_mark_path(path)
    tmp = mark.with_name(mark.name + ".tmp")
    try:
        if not _wal_empty(path):
            return False
        _fsync(path)  # the checkpointed pages are on disk before the marker says so
        identity = _identity(path)
        with tmp.open("w") as f:
            f.write(json.dumps(identity))
            f.flush()
            os.fsync(f.fileno())
        if not _clock_passed(tmp, identity["mtime_ns"]) or _identity(path) != identity:
            tmp.unlink()
            return False
        os.replace(tmp, mark)
        _fsync(path.parent)
    except OSError as exc:
        log.warning("could not record the clean close of %s (%s)", path, exc)
        tmp.unlink(missing_ok=True)
        return False
    return True


def _clock_passed(probe: Path, mtime_ns: int) -> bool:
    """Whether the file system now stamps writes later than ``mtime_ns``.

    File times come from a coarse clock (a few ms on Linux): a write right
    after the database's last one could carry the same mtime and go unseen.
    ``probe``'s own times are set to now until they are later.
    """
    deadline = time.monotonic() + CLOCK_WAIT_SECONDS
    while probe.stat().st_mtime_ns <= mtime_ns:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
        os.utime(probe)
    return True
