"""``MONTEMAP_COMMIT_DELAY_MS``: a group waits that long before its COMMIT (opt-in).

Writes made in separate event-loop turns, each turn ending with no more work, commit one
by one by default; with the delay they share one COMMIT, and a caller awaiting
``committed()`` is still answered only once that COMMIT is done.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.engine.db import Database
from montemap.engine.dbcheck import DatabaseFileError
from montemap.engine.group_delay import MAX_DELAY_MS, VARIABLE, group_delay

WRITES = 5


async def _spaced_writes(db: Database) -> tuple[int, float]:
    """Write ``WRITES`` rows, one a loop turn; the COMMITs it took and the seconds until
    ``committed()`` answered."""
    loop = asyncio.get_running_loop()
    before, started = db.commits, loop.time()
    for i in range(WRITES):
        with db.transaction() as conn:
            conn.execute("INSERT INTO t (v) VALUES (?)", (i,))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # a turn with no work: a plain group commits here
    await db.committed()
    assert not db.pending
    return db.commits - before, loop.time() - started


def _database(path: Path) -> Database:
    db = Database(path)
    db.migrate("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    return db


def test_by_default_each_idle_turn_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    db = _database(tmp_path / "m.db")
    try:
        commits, _ = asyncio.run(_spaced_writes(db))
        assert commits == WRITES
    finally:
        db.close()


def test_with_a_delay_the_writes_share_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, "100")
    db = _database(tmp_path / "m.db")
    try:
        assert db.min_group_delay == pytest.approx(0.1)
        commits, seconds = asyncio.run(_spaced_writes(db))
        assert commits == 1
        assert seconds >= 0.09  # committed() answered only after the group's COMMIT
        rows = db.query("SELECT v FROM t ORDER BY v")
        assert [r["v"] for r in rows] == list(range(WRITES))
    finally:
        db.close()
    reopened = Database(tmp_path / "m.db")  # committed: in the file for the next open
    try:
        assert reopened.query_one("SELECT COUNT(*) AS n FROM t")["n"] == WRITES  # type: ignore[index]
    finally:
        reopened.close()


@pytest.mark.parametrize("text", ["-1", "abc", "nan", str(MAX_DELAY_MS + 1)])
def test_a_bad_value_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(VARIABLE, text)
    with pytest.raises(DatabaseFileError, match=VARIABLE) as caught:
        Database(tmp_path / "m.db")
    assert repr(text) in str(caught.value)
    assert not (tmp_path / "m.db").exists()  # refused before anything was opened


@pytest.mark.parametrize(("text", "seconds"), [("", 0.0), ("0", 0.0), (" 5 ", 0.005)])
def test_accepted_values(monkeypatch: pytest.MonkeyPatch, text: str, seconds: float) -> None:
    monkeypatch.setenv(VARIABLE, text)
    assert group_delay() == pytest.approx(seconds)
