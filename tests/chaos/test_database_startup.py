"""The database is checked at start: an empty, foreign, corrupt or newer file is refused.

Issue 11, finding 8: a 0-byte ``montemap.db`` started empty without a word;
pages corrupted mid-file were not noticed at start and later reads answered
500; a database that does not open printed a 16-line traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.db import Database
from montemap.engine.dbcheck import (
    SCHEMA_VERSION,
    DatabaseFileError,
    clean_mark_path,
    quick_check,
)
from montemap.testing import free_port

RECOVERY = "restore it from a backup"


def montemap(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``montemap`` command line; it must give up on its own (no server left)."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from montemap.cli import main; sys.exit(main())",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def server(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return montemap("server", "--data-dir", str(data_dir), "--port", str(free_port()))


def refused_in_one_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def filled_database(path: Path, rows: int = 4000) -> None:
    """A real montemap database of many pages (executions with their history)."""
    db = Database(path)
    from montemap.engine.store import ExecutionStore

    store = ExecutionStore(db)
    for i in range(rows):
        store.insert_execution(
            {
                "arn": f"arn:aws:states:us-east-1:123456789012:execution:m:e{i}",
                "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                "state_machine_name": "m",
                "name": f"e{i}",
                "definition": "{}",
                "status": "SUCCEEDED",
                "input": '{"payload": "%s"}' % ("v" * 200),
                "start_date": 0.0,
            }
        )
    db.close()  # the last connection checkpoints the WAL into the file


def test_empty_file_is_refused_not_taken_for_a_new_database(tmp_path: Path) -> None:
    (tmp_path / "montemap.db").write_bytes(b"")
    line = refused_in_one_line(server(tmp_path), str(tmp_path / "montemap.db"), "is empty")
    assert "it is not a montemap database; move it away to start a new one" in line
    assert (tmp_path / "montemap.db").stat().st_size == 0  # left as it was


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "montemap.db").write_text("name,balance\nA,100\n" * 50)
    refused_in_one_line(server(tmp_path), "montemap.db is not a SQLite database", RECOVERY)


def test_pages_corrupted_mid_file_are_noticed_at_start(tmp_path: Path) -> None:
    path = tmp_path / "montemap.db"
    filled_database(path)
    size = path.stat().st_size
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    assert size > 100 * page, size
    with path.open("r+b") as f:  # overwrite a few whole pages in the middle of the file
        f.seek((size // page // 2) * page)
        f.write(os.urandom(4 * page))
    line = refused_in_one_line(server(tmp_path), str(path), "is corrupt", RECOVERY)
    assert len(line) < 400


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "montemap.db"
    filled_database(path, rows=10)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    refused_in_one_line(
        server(tmp_path), f"schema version {SCHEMA_VERSION + 1}", "newer than this montemap"
    )


def test_run_command_refuses_a_bad_database_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "montemap.db").write_bytes(b"")
    done = montemap("run", "--data-dir", str(tmp_path), "--loans", "10", "--paths", "10")
    refused_in_one_line(done, "is empty")


def test_a_sound_database_opens_and_records_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "montemap.db"
    filled_database(path, rows=10)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    Database(path).close()
    with pytest.raises(DatabaseFileError, match="is empty"):
        (tmp_path / "empty.db").write_bytes(b"")
        Database(tmp_path / "empty.db")


def test_the_start_up_check_is_bounded_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A check cut short by ``MONTEMAP_DB_CHECK_SECONDS`` says so in the log and opens."""
    path = tmp_path / "montemap.db"
    filled_database(path)
    clean_mark_path(path).unlink()  # as after a crash: a clean close skips the check
    with caplog.at_level("WARNING", logger="montemap.engine.dbcheck"):
        Database(path).close()
    assert "quick_check" not in caplog.text  # a small file is checked in full
    monkeypatch.setenv("MONTEMAP_DB_CHECK_SECONDS", "0")
    clean_mark_path(path).unlink()
    with caplog.at_level("WARNING", logger="montemap.engine.dbcheck"):
        Database(path).close()
    assert "quick_check of the database stopped" in caplog.text
    for bad in ("soon", "nan", "-1"):
        monkeypatch.setenv("MONTEMAP_DB_CHECK_SECONDS", bad)
        with pytest.raises(DatabaseFileError, match="MONTEMAP_DB_CHECK_SECONDS must be a number"):
            Database(path)


def test_an_unbounded_check_runs_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``inf`` (or any budget over a day) checks the whole file, with no timer to set."""
    path = tmp_path / "montemap.db"
    filled_database(path)
    monkeypatch.setenv("MONTEMAP_DB_CHECK_SECONDS", "inf")
    clean_mark_path(path).unlink()
    with caplog.at_level("INFO", logger="montemap.engine.dbcheck"):
        Database(path).close()
    assert ": ok in " in caplog.text and "stopped" not in caplog.text


class _StalledCheck:
    """A connection whose check is stuck in one step (pages read from a slow disk): SQLite
    asks no progress handler meanwhile; only an interrupt ends the step."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()

    def set_progress_handler(self, handler: Any, n: int) -> None:
        pass  # never asked during the stalled step

    def interrupt(self) -> None:
        self.interrupted.set()

    def execute(self, sql: str) -> _StalledCheck:
        return self

    def fetchall(self) -> list[tuple[str]]:
        if self.interrupted.wait(timeout=10):
            raise sqlite3.OperationalError("interrupted")
        return [("ok",)]  # the step ended on its own: the budget was not kept


def test_a_check_stuck_in_one_step_ends_at_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    stalled = _StalledCheck()
    started = time.monotonic()
    with caplog.at_level("INFO", logger="montemap.engine.dbcheck"):
        assert quick_check(stalled, 0.05) is None  # type: ignore[arg-type]
    assert stalled.interrupted.is_set()
    assert time.monotonic() - started < 5
    assert "quick_check of the database stopped" in caplog.text
    assert ": ok in " not in caplog.text  # stopped is not passed


def test_a_check_within_its_budget_leaves_later_statements_alone(tmp_path: Path) -> None:
    """The timer that bounds the check is gone once the check ends: a statement still
    running when its deadline passes is not interrupted."""
    conn = sqlite3.connect(tmp_path / "small.db", check_same_thread=False)
    conn.execute("CREATE TABLE t (v INTEGER)")
    assert quick_check(conn, 0.05) is None
    longer = time.monotonic() + 0.3
    count = 0
    while time.monotonic() < longer:  # statements running across the check's deadline
        count += conn.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)"
            " SELECT count(*) FROM c"
        ).fetchone()[0]
    assert count > 0 and count % 20000 == 0
    conn.close()
