"""A large text is written once, not once per row that refers to it.

A Map child's input is referred to by its execution row, its activity task and
three of its events, each in a transaction of its own. :class:`TextStore`
remembers the digests it wrote, so only the first of them writes the text, and
forgets a digest whose transaction rolled back, so that a later reference
writes the text again: no row may refer to a text the database does not hold.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.engine.db import Database
from montemap.engine.texts import MIN_CHARS, TextStore

TEXT = '{"Items":[' + ",".join(f'{{"Key":"k{i}"}}' for i in range(MIN_CHARS // 8)) + "]}"


def text_inserts(db: Database) -> list[str]:
    """The statements that write ``texts`` from now on (SQLite's own trace)."""
    seen: list[str] = []
    db.conn.set_trace_callback(lambda sql: seen.append(sql) if "INTO texts" in sql else None)
    return seen


def stored(db: Database) -> int:
    row = db.query_one("SELECT COUNT(*) AS n FROM texts")
    assert row is not None
    return int(row["n"])


def test_references_after_the_first_write_do_not_write_again(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    texts = TextStore(db)
    inserts = text_inserts(db)
    with db.transaction() as conn:
        key = texts.write_now(conn, TEXT)
    with db.transaction() as conn:
        assert texts.write_now(conn, TEXT) == key
    with db.transaction():
        assert texts.reference(TEXT) == key
    assert len(inserts) == 1
    assert stored(db) == 1
    assert texts.text(key) == TEXT
    db.close()


def test_a_rolled_back_write_is_written_again(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    texts = TextStore(db)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        texts.write_now(conn, TEXT)
        raise RuntimeError("the step failed")
    assert stored(db) == 0
    with db.transaction():
        key = texts.reference(TEXT)  # written by this transaction's commit
    assert stored(db) == 1
    row = db.query_one("SELECT text FROM texts WHERE digest = ?", (key,))
    assert row is not None and row["text"] == TEXT
    db.close()


def test_in_a_group_only_the_rolled_back_transaction_is_forgotten(tmp_path: Path) -> None:
    other = TEXT.replace("k1", "x1")

    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        texts = TextStore(db)
        inserts = text_inserts(db)
        with db.transaction() as conn:  # joins the group, which commits later
            kept = texts.write_now(conn, TEXT)
        with pytest.raises(RuntimeError), db.transaction() as conn:
            texts.write_now(conn, other)
            raise RuntimeError("the step failed")
        with db.transaction() as conn:
            assert texts.write_now(conn, TEXT) == kept  # still stored: not written again
            again = texts.write_now(conn, other)  # rolled back: written again
        await db.committed()
        assert stored(db) == 2
        assert len(inserts) == 3
        for key, text in ((kept, TEXT), (again, other)):
            row = db.query_one("SELECT text FROM texts WHERE digest = ?", (key,))
            assert row is not None and row["text"] == text
        db.close()

    asyncio.run(scenario())
