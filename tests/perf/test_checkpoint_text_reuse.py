"""A frame's checkpoint reuses its input's text while the input is the same object."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from montemap.engine import input_texts
from montemap.engine.db import Database
from montemap.engine.history import Event
from montemap.engine.input_texts import InputTexts
from montemap.engine.jsontext import compact_dumps
from montemap.engine.store import TOP_FRAME_KEY, ExecutionStore, FrameRow

ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:e"


def batch(first: int, items: int = 200) -> dict[str, Any]:
    """A Distributed Map child's input: well above the size whose text is kept."""
    rows = [
        {"Bucket": "b", "Key": f"data/{i:06d}.csv", "Size": str(i)}
        for i in range(first, first + items)
    ]
    return {"BatchInput": {"seed": first}, "Items": rows}


class CountingEncoder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: Any) -> str:
        self.calls += 1
        return compact_dumps(value)


def stored_input(path: str) -> object:
    other = sqlite3.connect(path)
    try:
        (text,) = other.execute(  # a large input is stored once, in texts
            "SELECT COALESCE(f.input, t.text) FROM frames f"
            " LEFT JOIN texts t ON t.digest = f.input_ref WHERE f.key = ?",
            (TOP_FRAME_KEY,),
        ).fetchone()
    finally:
        other.close()
    return json.loads(text)


def step(store: ExecutionStore, top: FrameRow, event_id: int) -> None:
    now = datetime.now(UTC)
    store.commit(ARN, first_event_id=event_id, events=[(Event("Step"), 0, now)], frames=[top])


def test_checkpoints_hold_the_input_the_frame_has_at_each_step(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    db = Database(path)
    store = ExecutionStore(db)
    top = FrameRow(
        key=TOP_FRAME_KEY, parent_key=None, machine="", state="A", input=batch(0), variables={},
        phase={},
    )  # fmt: skip
    store.remember_input(ARN, TOP_FRAME_KEY, top.input, compact_dumps(top.input))
    step(store, top, 1)
    assert stored_input(path) == batch(0)
    step(store, top, 2)
    assert stored_input(path) == batch(0)
    top.input = batch(5)  # a new state's input is a new object: a new text
    step(store, top, 3)
    assert stored_input(path) == batch(5)
    top.input = {"small": True}
    step(store, top, 4)
    assert stored_input(path) == {"small": True}
    assert (ARN, TOP_FRAME_KEY) not in store.input_texts  # small texts are not kept
    top.input, top.status, top.state = batch(9), "SUCCEEDED", None
    step(store, top, 5)
    assert stored_input(path) == batch(9)
    assert len(store.input_texts) == 0  # an ended frame's text is not kept
    db.close()


def test_the_same_object_is_encoded_once_a_new_one_again() -> None:
    encode = CountingEncoder()
    texts = InputTexts(encode)
    key = (ARN, "k")
    value = batch(0)
    first = texts.text(key, value)
    assert first == compact_dumps(value) and encode.calls == 1
    assert texts.text(key, value) is first and encode.calls == 1
    assert texts.text(key, batch(0)) == first and encode.calls == 2  # equal, not the same
    assert texts.text(key, {"a": 1}) == '{"a":1}' and key not in texts
    remembered = batch(3)
    texts.remember(key, remembered, compact_dumps(remembered))
    assert texts.text(key, remembered, last=True) == compact_dumps(remembered)
    assert encode.calls == 3 and key not in texts  # the frame ended: forgotten


def test_kept_texts_are_bounded_by_entries_and_by_characters() -> None:
    texts = InputTexts(compact_dumps)
    for i in range(input_texts.MAX_ENTRIES + 10):
        texts.text((ARN, str(i)), batch(i, items=40))
    assert len(texts) == input_texts.MAX_ENTRIES
    assert (ARN, "0") not in texts and (ARN, str(input_texts.MAX_ENTRIES + 9)) in texts

    big = InputTexts(compact_dumps)
    size = len(compact_dumps(batch(0, items=5000)))
    for i in range(input_texts.MAX_CHARS // size + 5):
        big.text((ARN, str(i)), batch(i, items=5000))
    assert len(big) * size <= input_texts.MAX_CHARS
    assert (ARN, "0") not in big
