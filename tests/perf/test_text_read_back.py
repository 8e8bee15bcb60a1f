"""A large text written is read back from memory at once, and from the database later.

A new execution's row is read back just after it is inserted, and an activity task is
often claimed just after it is scheduled: the last texts written are kept by digest,
so those reads need no query. Older texts come from the ``texts`` table, unchanged.
"""

from __future__ import annotations

from pathlib import Path

from montemap.engine import texts
from montemap.engine.db import Database
from montemap.engine.texts import MIN_CHARS, TextStore


def text(n: int) -> str:
    return f'{{"n":{n},"pad":"{"x" * MIN_CHARS}"}}'


def test_the_last_texts_written_are_read_without_a_query(tmp_path: Path) -> None:
    store = TextStore(Database(tmp_path / "t.db"))
    written = [text(n) for n in range(texts._KEEP_TEXTS + 3)]
    keys = []
    for value in written:
        with store.db.transaction() as conn:
            keys.append(store.write_now(conn, value))
    for key, value in zip(keys[3:], written[3:], strict=True):
        assert store.text(key) is value  # kept: the very object
    for key, value in zip(keys[:3], written[:3], strict=True):
        read = store.text(key)  # pushed out: read from the table
        assert read == value and read is not value


def test_texts_written_by_a_commit_are_kept_too(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    store = TextStore(db)
    value = text(1)
    with db.transaction():
        key = store.reference(value)
    assert store.text(key) is value
    fresh = TextStore(Database(tmp_path / "t.db"))  # another reader: the table has it
    assert fresh.text(key) == value
