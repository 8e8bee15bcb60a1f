"""The ItemBatcher takes items a chunk at a time: the same batches as item by item.

The oracle below is the rule itself, measured by encoding: a batch closes when it
holds MaxItemsPerBatch items, or when one more item would make the whole child
input's compact JSON larger than the byte limit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.engine.item_batcher import CHUNK, MAX_BATCH_BYTES, batch_items
from montemap.errors import StatesError

BATCH_INPUT = {"output_bucket": "results", "shocks_bp": [0, 100], "seed": 1}


def compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def oracle(
    items: list[Any], max_items: int | None, max_bytes: int | None, batch_input: Any
) -> list[list[Any]]:
    limit = max_bytes or MAX_BATCH_BYTES

    def size(batch: list[Any]) -> int:
        envelope: dict[str, Any] = {"Items": batch}
        if batch_input is not None:
            envelope = {"BatchInput": batch_input, "Items": batch}
        return compact(envelope)

    batches: list[list[Any]] = []
    batch: list[Any] = []
    for item in items:
        if batch and size([*batch, item]) > limit:
            batches.append(batch)
            batch = []
        batch.append(item)
        if max_items is not None and len(batch) >= max_items:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


def inventory_row(rng: random.Random, i: int) -> dict[str, str]:
    return {"Bucket": "src", "Key": f"data/{'k' * rng.randrange(0, 30)}-{i}.csv", "Size": str(i)}


def odd_item(rng: random.Random, i: int) -> Any:
    return rng.choice(
        [
            {"Key": f'say "{i}"'},
            {"Key": f"café-{i}"},
            {"Key": i},
            {},
            [i, "x"],
            f"text-{i}",
            {"Key": "tab\there", "n": None},
        ]
    )


def portfolio(seed: int, n: int, odd_share: float) -> list[Any]:
    rng = random.Random(seed)
    return [
        odd_item(rng, i) if rng.random() < odd_share else inventory_row(rng, i) for i in range(n)
    ]


@pytest.mark.parametrize("odd_share", [0.0, 0.002, 0.3])
@pytest.mark.parametrize(
    ("max_items", "max_bytes"),
    [(400, None), (7, None), (None, 3000), (50, 1500), (None, None), (CHUNK + 3, 20_000)],
)
@pytest.mark.parametrize("batch_input", [None, BATCH_INPUT])
def test_batches_are_those_of_the_rule(
    odd_share: float, max_items: int | None, max_bytes: int | None, batch_input: Any
) -> None:
    items = portfolio(int(odd_share * 1000) + (max_items or 0), 3 * CHUNK + 17, odd_share)
    got = list(batch_items(iter(items), max_items=max_items, max_bytes=max_bytes,
                           batch_input=batch_input))  # fmt: skip
    assert [b["Items"] for b in got] == oracle(items, max_items, max_bytes, batch_input)
    for batch in got:
        assert ("BatchInput" in batch) == (batch_input is not None)
        assert compact(batch) <= (max_bytes or MAX_BATCH_BYTES)


@pytest.mark.parametrize("max_items", [None, 10, 11])
@pytest.mark.parametrize("batch_input", [None, BATCH_INPUT])
def test_an_exact_fit_closes_at_the_limit(max_items: int | None, batch_input: Any) -> None:
    items = [{"Key": f"k{i:03d}"} for i in range(40)]  # all of one size
    for extra, per_batch in ((-1, 9), (0, 10), (1, 10)):
        envelope = {"Items": items[:10]}
        if batch_input is not None:
            envelope = {"BatchInput": batch_input, **envelope}
        limit = compact(envelope) + extra
        got = list(batch_items(iter(items), max_items=max_items, max_bytes=limit,
                               batch_input=batch_input))  # fmt: skip
        assert [b["Items"] for b in got] == oracle(items, max_items, limit, batch_input)
        assert len(got[0]["Items"]) == per_batch


class ReaderBroke(Exception):
    pass


def broken_after(items: list[Any], n: int) -> Iterator[Any]:
    yield from items[:n]
    raise ReaderBroke(f"line {n + 1} is not valid CSV")


@pytest.mark.parametrize("n", [0, 5, 399, 400, 401, 1000])
def test_a_reader_error_comes_after_the_batches_before_it(n: int) -> None:
    """Item by item, the batches closed before a bad item are taken before its error."""
    items = portfolio(3, 1200, 0.0)
    for max_items, max_bytes in ((400, None), (None, 2500)):
        got: list[list[Any]] = []
        batches = batch_items(broken_after(items, n), max_items=max_items, max_bytes=max_bytes,
                              batch_input=None)  # fmt: skip
        with pytest.raises(ReaderBroke, match=f"line {n + 1} "):
            for batch in batches:
                got.append(batch["Items"])
        whole = oracle(items[:n], max_items, max_bytes, None)
        # A batch the count filled was yielded before the error; the last one the byte
        # limit would close waits for the item that does not fit, so the error ends it.
        full = bool(whole) and max_items is not None and len(whole[-1]) == max_items
        assert got == (whole if full else whole[:-1])


def test_an_item_that_fits_no_batch_is_refused_at_its_index() -> None:
    items = portfolio(4, 600, 0.0)
    items[300] = {"Key": "x" * 5000}
    with pytest.raises(StatesError, match="item at index 300 is 5010 bytes"):
        list(batch_items(iter(items), max_items=400, max_bytes=4000, batch_input=None))


def test_a_value_that_is_not_json_is_refused_at_its_index() -> None:
    items: list[Any] = portfolio(5, 600, 0.0)
    items[450] = {"Key": object()}
    with pytest.raises(StatesError, match="Item at index 450 is not JSON data"):
        list(batch_items(iter(items), max_items=400, max_bytes=None, batch_input=None))


def test_items_are_taken_no_further_than_the_batch_needs() -> None:
    """With MaxItemsPerBatch a batch is yielded before any item of the next is read."""
    taken: list[int] = []

    def items() -> Iterator[dict[str, str]]:
        for i in range(1000):
            taken.append(i)
            yield {"Key": f"k{i}"}

    batches = batch_items(items(), max_items=300, max_bytes=None, batch_input=None)
    first = next(batches)
    assert len(first["Items"]) == 300 and len(taken) == 300
    next(batches)
    assert len(taken) == 600
