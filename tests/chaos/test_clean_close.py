"""A clean close lets the next start skip ``quick_check``; anything else is checked.

``PRAGMA quick_check`` reads every page (up to ``MONTEMAP_DB_CHECK_SECONDS`` on a
multi-GB database) and every ``montemap run`` used to pay it. A clean close now
leaves ``montemap.db-clean`` naming the file exactly (device, inode, size, mtime,
ctime, schema version); the next open removes it and skips the check only if it
still matches and no WAL frames wait. A crash, a write, a restored copy or a
leftover WAL means the check runs as before (see docs/durability.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.engine.db import Database
from montemap.engine.dbcheck import DatabaseFileError, clean_mark_path
from montemap.testing import MontemapServer
from tests.chaos.test_database_startup import filled_database

SKIPPED = "closed cleanly and is unchanged since: quick_check skipped"
CHECKED = ": ok in "


def corrupt_middle(path: Path) -> None:
    """Overwrite a few whole pages in the middle of the file (as a bad copy would)."""
    size = path.stat().st_size
    page = int.from_bytes(path.read_bytes()[16:18], "big")  # the header's page size
    assert size > 100 * page, size
    with path.open("r+b") as f:
        f.seek((size // page // 2) * page)
        f.write(os.urandom(4 * page))


def opened(path: Path, caplog: pytest.LogCaptureFixture) -> bool:
    """Open and close ``path``; whether the open skipped ``quick_check`` (log and flag agree)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="montemap.engine.dbcheck"):
        db = Database(path)
        assert not clean_mark_path(path).exists()  # removed before anything is written
        db.close()
    assert (SKIPPED in caplog.text) == db.closed_cleanly, caplog.text
    assert (CHECKED in caplog.text) != db.closed_cleanly, caplog.text
    return db.closed_cleanly


def test_a_clean_close_lets_the_next_open_skip_the_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "montemap.db"
    assert not opened(path, caplog)  # a new database
    assert clean_mark_path(path).is_file()
    assert opened(path, caplog)
    assert opened(path, caplog)  # and again: each clean close leaves a new marker


def test_pages_corrupted_after_a_clean_close_are_still_caught(tmp_path: Path) -> None:
    path = tmp_path / "montemap.db"
    filled_database(path)
    assert clean_mark_path(path).is_file()
    corrupt_middle(path)
    with pytest.raises(DatabaseFileError, match="is corrupt"):
        Database(path)


def test_a_write_that_keeps_the_mtime_is_still_caught(tmp_path: Path) -> None:
    """Corrupt pages with the file's mtime put back (``touch -r``): its ctime moved."""
    path = tmp_path / "montemap.db"
    filled_database(path)
    before = path.stat()
    corrupt_middle(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert path.stat().st_size == before.st_size
    with pytest.raises(DatabaseFileError, match="is corrupt"):
        Database(path)


@pytest.fixture
def closed_db(tmp_path: Path) -> Path:
    """A small montemap database, closed cleanly (its marker beside it)."""
    path = tmp_path / "montemap.db"
    filled_database(path, rows=10)
    assert clean_mark_path(path).is_file()
    return path


def test_a_restored_copy_with_the_same_size_and_times_is_checked(
    closed_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``cp -p`` of a copy over the file: same size and mtime, another inode."""
    copy = closed_db.with_name("copy.db")
    shutil.copy2(closed_db, copy)
    os.replace(copy, closed_db)
    assert not opened(closed_db, caplog)


def test_wal_frames_left_by_a_writer_that_died_are_checked(
    closed_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process wrote (into the WAL only) and died: the file itself is unchanged."""
    mtime = closed_db.stat().st_mtime_ns
    writer = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute('CREATE TABLE left_behind (a)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(closed_db)], check=True, timeout=60)
    assert closed_db.stat().st_mtime_ns == mtime
    assert closed_db.with_name("montemap.db-wal").stat().st_size > 0
    assert not opened(closed_db, caplog)
    tables = sqlite3.connect(closed_db).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("left_behind",) in tables


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda _: "",
        lambda _: "not json",
        lambda _: '{"format": 1}',
        lambda real: real.replace('"schema": ', '"schema": 1'),  # another schema version
    ],
    ids=["empty", "not-json", "foreign", "other-schema"],
)
def test_an_unreadable_or_foreign_marker_means_a_check(
    closed_db: Path, caplog: pytest.LogCaptureFixture, rewrite: Callable[[str], str]
) -> None:
    mark = clean_mark_path(closed_db)
    mark.write_text(rewrite(mark.read_text()))
    assert not opened(closed_db, caplog)


def _log_since(server: MontemapServer, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode(errors="replace")


def test_server_stopped_cleanly_skips_the_check_killed_checks(tmp_path: Path) -> None:
    """Real server processes: SIGTERM leaves the marker, SIGKILL leaves none."""
    data = tmp_path / "data"
    path = data / "montemap.db"
    server = MontemapServer(data, extra_args=["--log-level", "info"])
    try:
        server.start()
        assert not clean_mark_path(path).exists()
        server.client().create_activity(name="work")  # something written
        assert server.stop() == 0
        assert clean_mark_path(path).is_file()

        offset = server.log_path.stat().st_size
        server.start()
        log = _log_since(server, offset)
        assert SKIPPED in log and CHECKED not in log, log
        assert not clean_mark_path(path).exists()  # removed while the server runs
        server.kill()
        assert not clean_mark_path(path).exists()

        offset = server.log_path.stat().st_size
        server.start()
        log = _log_since(server, offset)
        assert CHECKED in log and SKIPPED not in log, log
        names = [a["name"] for a in server.client().list_activities()["activities"]]
        assert names == ["work"]
    finally:
        server.close()
