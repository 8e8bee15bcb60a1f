"""ItemBatcher: AWS's batch shape, item and byte limits, and their edge cases."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from montemap.engine.item_batcher import MAX_BATCH_BYTES, batch_items, serialized_size
from montemap.errors import StatesError


def compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def test_shape_and_item_limit() -> None:
    batches = list(batch_items(range(10), max_items=3, max_bytes=None, batch_input=None))
    assert batches == [
        {"Items": [0, 1, 2]},
        {"Items": [3, 4, 5]},
        {"Items": [6, 7, 8]},
        {"Items": [9]},
    ]


def test_batch_input_is_included_in_every_batch() -> None:
    batches = list(
        batch_items("abc", max_items=2, max_bytes=None, batch_input={"factCheck": "TRUE"})
    )
    assert batches == [
        {"BatchInput": {"factCheck": "TRUE"}, "Items": ["a", "b"]},
        {"BatchInput": {"factCheck": "TRUE"}, "Items": ["c"]},
    ]
    assert list(batches[0]) == ["BatchInput", "Items"]
    batches[0]["BatchInput"]["factCheck"] = "changed"
    assert batches[1]["BatchInput"] == {"factCheck": "TRUE"}


def test_no_items_no_batches() -> None:
    assert list(batch_items([], max_items=5, max_bytes=100, batch_input={"x": 1})) == []


@pytest.mark.parametrize("batch_input", [None, {"run": "r-1", "scenario": [0, 100, 200]}])
def test_byte_limit_is_measured_on_the_serialized_batch(batch_input: Any) -> None:
    items = [
        {"Key": f"data/loan-{i}.csv", "Size": str(i * 37 % 1000), "é": "ü" * (i % 5)}
        for i in range(300)
    ]
    limit = 1000
    batches = list(batch_items(items, max_items=None, max_bytes=limit, batch_input=batch_input))
    assert [item for b in batches for item in b["Items"]] == items
    for n, batch in enumerate(batches):
        assert serialized_size(batch) == compact(batch)
        assert compact(batch) <= limit
        if n + 1 < len(batches):  # greedy: the next item would not have fitted
            bigger = dict(batch, Items=[*batch["Items"], batches[n + 1]["Items"][0]])
            assert compact(bigger) > limit


def test_a_batch_may_fill_the_limit_exactly() -> None:
    items = ["x" * 10] * 4  # each item is 12 bytes serialized
    exact = compact({"Items": items[:3]})
    batches = list(batch_items(items, max_items=None, max_bytes=exact, batch_input=None))
    assert [len(b["Items"]) for b in batches] == [3, 1]


def test_both_limits_whichever_comes_first() -> None:
    items = ["a"] * 5 + ["b" * 50] + ["c"] * 5
    batches = list(batch_items(items, max_items=4, max_bytes=70, batch_input=None))
    assert [b["Items"] for b in batches] == [
        ["a"] * 4,
        ["a", "b" * 50],  # 68 bytes; one more "c" would make 72
        ["c"] * 4,
        ["c"],
    ]
    assert all(compact(b) <= 70 for b in batches)


def test_payload_quota_applies_without_a_byte_limit() -> None:
    item = "x" * (100 * 1024)
    batches = list(batch_items([item] * 5, max_items=10, max_bytes=None, batch_input=None))
    assert [len(b["Items"]) for b in batches] == [2, 2, 1]
    assert all(compact(b) <= MAX_BATCH_BYTES for b in batches)


def test_an_item_larger_than_the_limit_fails_after_the_batches_before_it() -> None:
    batches = batch_items(
        ["ok", "ok", "y" * 200, "never"], max_items=2, max_bytes=100, batch_input=None
    )
    assert next(batches) == {"Items": ["ok", "ok"]}
    with pytest.raises(StatesError) as err:
        next(batches)
    assert err.value.error == "States.ItemReaderFailed"
    assert "index 2" in (err.value.cause or "")
    assert "100 bytes" in (err.value.cause or "")


def test_bytes_are_utf8_bytes_not_characters() -> None:
    # 'é' is one character but two bytes.
    items = ["é" * 10] * 2  # 22 bytes serialized each
    assert compact({"Items": items}) == 12 + 22 + 1 + 22
    batches = list(batch_items(items, max_items=None, max_bytes=56, batch_input=None))
    assert len(batches) == 2
    batches = list(batch_items(items, max_items=None, max_bytes=57, batch_input=None))
    assert len(batches) == 1


def test_batch_input_that_alone_exceeds_the_limit() -> None:
    with pytest.raises(StatesError) as err:
        batch_items([1], max_items=None, max_bytes=50, batch_input={"big": "z" * 100})
    assert err.value.error == "States.ItemReaderFailed"
    assert "BatchInput" in (err.value.cause or "")


def test_streaming_over_an_endless_source() -> None:
    batches = batch_items(itertools.count(), max_items=1000, max_bytes=None, batch_input=None)
    first, second = next(batches), next(batches)
    assert first["Items"][-1] == 999
    assert second["Items"][0] == 1000


@pytest.mark.parametrize(
    ("max_items", "max_bytes", "detail"),
    [
        (0, None, "MaxItemsPerBatch must be a positive integer"),
        (-1, None, "MaxItemsPerBatch"),
        (True, None, "MaxItemsPerBatch"),
        ("3", None, "MaxItemsPerBatch"),
        (None, 0, "MaxInputBytesPerBatch must be a positive integer"),
        (None, MAX_BATCH_BYTES + 1, "at most 262144"),
        (None, 2.5, "MaxInputBytesPerBatch"),
    ],
)
def test_invalid_limits(max_items: Any, max_bytes: Any, detail: str) -> None:
    with pytest.raises(StatesError) as err:
        batch_items([1], max_items=max_items, max_bytes=max_bytes, batch_input=None)
    assert err.value.error == "States.Runtime"
    assert detail in (err.value.cause or "")


def test_items_that_are_not_json_data() -> None:
    with pytest.raises(StatesError) as err:
        list(batch_items([1, object()], max_items=2, max_bytes=None, batch_input=None))
    assert "index 1" in (err.value.cause or "")
