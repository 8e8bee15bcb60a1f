"""The ItemBatcher sizes common items without encoding them: the same sizes, the same batches."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest

from montemap.engine.item_batcher import _item_size, batch_items, serialized_size

ODD = ['"', "\\", "\x00", "\x1f", "\x7f", "é", "\u2028", "😀", " ", "/"]


def compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.mark.parametrize(
    "item",
    [
        {"Bucket": "montemap-source", "Key": "data/data-gen-000001.csv", "Size": "233"},
        {"": ""},
        {"a": 'say "hi"'},
        {"a": "back\\slash"},
        {"a": "tab\there"},
        {"a": "\x7f"},
        {"a": "café"},
        {"a": 1},
        {1: "a"},
        {"a": None},
        {"a": ["b"]},
        {},
        [],
        "text",
        12.5,
        None,
    ],
)
def test_the_size_is_the_compact_json_size(item: Any) -> None:
    assert _item_size(item) == serialized_size(item) == compact(item)


def test_random_string_objects_are_sized_exactly() -> None:
    rng = random.Random(13)
    alphabet = string.printable + "".join(ODD)
    for _ in range(3000):
        item = {
            "".join(rng.choices(alphabet, k=rng.randrange(0, 6))): "".join(
                rng.choices(alphabet, k=rng.randrange(0, 9))
            )
            for _ in range(rng.randrange(1, 5))
        }
        assert _item_size(item) == compact(item), item


def test_a_byte_limit_closes_batches_where_the_encoded_size_says() -> None:
    rng = random.Random(5)
    items = [
        {"Bucket": "b", "Key": f"data/{'x' * rng.randrange(0, 40)}-{i}.csv", "Size": str(i)}
        for i in range(500)
    ]
    limit = 2000
    batches = list(batch_items(iter(items), max_items=None, max_bytes=limit, batch_input=None))
    assert [item for b in batches for item in b["Items"]] == items
    for i, b in enumerate(batches):
        assert compact(b) <= limit
        if i + 1 < len(batches):  # full: the next item would not have fitted
            assert compact({"Items": [*b["Items"], batches[i + 1]["Items"][0]]}) > limit
