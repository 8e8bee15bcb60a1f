"""Large texts stored once: the ``texts`` table, addressed by their content.

A Distributed Map child's input (a batch: tens of KB of JSON) used to be
written in full into its ExecutionStarted, TaskStateEntered and
ActivityScheduled events, into every checkpoint of its frame and into its
activity task. A text of at least :data:`MIN_CHARS` characters is now
written once into ``texts`` under its digest (BLAKE2b, 128 bits, of its UTF-8
bytes), and those rows hold the digest instead:

- an event's payload field (``input``, ``output``, ``parameters``) holds
  ``{"$text":"<digest>"}`` (a payload is always a JSON string, so an object
  there cannot be anything else); :meth:`TextStore.restore_details` puts the
  text back, giving the very JSON text the event had before;
- an execution, a frame's checkpoint and an activity task keep the digest
  in their ``input_ref`` column (their ``input`` then holds no text).

Rows written before this table existed hold their texts in place and read as
they always did. Texts are never deleted (neither are events).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from montemap.engine.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (
    digest TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
"""

#: Texts at least this long are stored once in ``texts``; shorter ones in place.
MIN_CHARS = 2048
#: Event detail fields whose (string) value may be stored in ``texts``.
PAYLOAD_FIELDS = ("input", "output", "parameters")
#: Digests remembered for the text objects they were computed for.
_KEEP_DIGESTS = 512
#: Texts written last, remembered by digest: a row written is often read back at once
#: (a new execution's row; an activity task claimed as soon as it is scheduled).
_KEEP_TEXTS = 16
#: Digests of the texts written last, not written again: a Map child's input is referred
#: to by its row, its activity task and three of its events, in three transactions.
_KEEP_STORED = 256

_INSERT = "INSERT OR IGNORE INTO texts (digest, text) VALUES (?, ?)"
_MARK = '{"$text":"'
_REFERENCE = re.compile(r'(?<=[{,])"(input|output|parameters)":\{"\$text":"([0-9a-f]{32})"\}')


def digest(text: str) -> str:
    """The key of ``text`` in ``texts`` (UnicodeEncodeError: not storable text)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def add_column(db: Database, table: str, column: str) -> None:
    """Add the ``column`` (TEXT, NULL) to ``table`` of a database made before it existed."""
    have = {r["name"] for r in db.query(f"PRAGMA table_info({table})")}
    if column not in have:
        with db.transaction() as conn:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


class TextStore:
    """Writes large texts once (with the transaction that refers to them) and reads them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(SCHEMA)
        #: Texts referred to by rows buffered for the next commit, by digest.
        self._pending: dict[str, str] = {}
        #: id(text) -> (text, digest): a text object met again is not hashed again.
        self._digests: dict[int, tuple[str, str]] = {}
        #: digest -> text of the last texts written (oldest first).
        self._recent: dict[str, str] = {}
        #: digest -> when it was written (a count), of texts written by transactions that
        #: were not rolled back (oldest first): a reference to one needs no write.
        self._stored: dict[str, int] = {}
        self._writes = 0
        db.add_commit_hook(self._write)
        db.add_undo_hook(self._mark, self._undo, self._stored.clear)

    def _digest(self, text: str) -> str:
        """:func:`digest`, computed once for a text object met again soon."""
        kept = self._digests.get(id(text))
        if kept is not None and kept[0] is text:
            return kept[1]
        key = digest(text)
        self._digests[id(text)] = (text, key)
        if len(self._digests) > _KEEP_DIGESTS:
            del self._digests[next(iter(self._digests))]  # the oldest
        return key

    def reference(self, text: str) -> str:
        """The digest of ``text``, which the current transaction's commit writes."""
        key = self._digest(text)
        if key not in self._stored:
            self._pending[key] = text
        return key

    def write_now(self, conn: sqlite3.Connection, text: str) -> str:
        """Write ``text`` in the caller's transaction now (a full disk fails it); its digest."""
        key = self._digest(text)
        if key not in self._stored:
            conn.execute(_INSERT, (key, text))
            self._remember(key, text)
            self._was_stored(key)
        return key

    def _was_stored(self, key: str) -> None:
        """``key``'s text is written (in this transaction, or the group it joined)."""
        self._writes += 1
        stored = self._stored
        stored.pop(key, None)
        stored[key] = self._writes
        if len(stored) > _KEEP_STORED:
            del stored[next(iter(stored))]  # the oldest

    def _remember(self, key: str, text: str) -> None:
        """Keep ``text`` among the last texts written (a text's digest never changes)."""
        recent = self._recent
        recent.pop(key, None)
        recent[key] = text
        if len(recent) > _KEEP_TEXTS:
            del recent[next(iter(recent))]  # the oldest

    def resolve(self, row: dict[str, Any]) -> dict[str, Any]:
        """An executions row with its ``input`` read from ``texts`` if stored there."""
        ref = row.get("input_ref")
        if ref is not None:
            row["input"] = self.text(ref)
        return row

    def details(self, details: dict[str, Any], dump: Callable[[Any], str]) -> str:
        """An event's details as stored: large payload fields as references."""
        for name in PAYLOAD_FIELDS:
            value = details.get(name)
            if type(value) is str and len(value) >= MIN_CHARS:
                break
        else:
            return dump(details)
        stored = dict(details)
        for name in PAYLOAD_FIELDS:
            value = stored.get(name)
            if type(value) is str and len(value) >= MIN_CHARS:
                stored[name] = {"$text": self.reference(value)}
        return dump(stored)

    def restore_details(self, details: str | None) -> str | None:
        """The stored details of an event with its referred texts back in place."""
        if details is None or _MARK not in details:
            return details
        return _REFERENCE.sub(
            lambda m: f'"{m.group(1)}":{encode_basestring(self.text(m.group(2)))}', details
        )

    def text(self, key: str) -> str:
        """The text stored under ``key`` (what is pending is written first)."""
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        recent = self._recent.get(key)
        if recent is not None:
            return recent
        row = self.db.query_one("SELECT text FROM texts WHERE digest = ?", (key,))
        if row is None:
            raise LookupError(f"text {key} is missing from the database's texts table")
        return str(row["text"])

    def _write(self, conn: sqlite3.Connection) -> None:
        """The commit hook: write the texts the transaction's rows refer to."""
        if self._pending:
            pending = self._pending
            conn.executemany(_INSERT, list(pending.items()))
            self._pending = {}
            for key, text in pending.items():
                self._remember(key, text)
                self._was_stored(key)

    def _mark(self) -> object:
        return dict(self._pending), self._writes

    def _undo(self, mark: object) -> None:
        """A transaction rolled back: what it buffered or wrote is not stored."""
        assert isinstance(mark, tuple)
        self._pending = mark[0]
        since: int = mark[1]
        for key in [k for k, at in self._stored.items() if at > since]:
            del self._stored[key]
