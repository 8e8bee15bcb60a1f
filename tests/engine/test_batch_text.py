"""A batch's text made from templates while it is filled is the JSON encoder's text.

The oracle is ``json.dumps`` (compact, UTF-8 kept): every batch's :meth:`Batches.text`
must equal it byte for byte, whichever way the text was made, and a chunk's templated
text must equal the encoding of its items.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from montemap.engine.batch_text import chunk_text
from montemap.engine.item_batcher import CHUNK, batch_items

BATCH_INPUT = {"output_bucket": "results", "note": "café %s", "shocks_bp": [0, 100], "x": 0.1}


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def row(rng: random.Random, i: int) -> dict[str, str]:
    return {"Bucket": "src", "Key": f"data/{'k' * rng.randrange(0, 30)}-{i}%s.csv", "Size": str(i)}


class Text(str):
    """A string subclass: never templated."""


def odd(rng: random.Random, i: int) -> Any:
    return rng.choice(
        [
            {"Bucket": "src", "Key": f'say "{i}"', "Size": "1"},
            {"Bucket": "src", "Key": f"café-{i}", "Size": "1"},
            {"Bucket": "src", "Key": "back\\slash", "Size": "1"},
            {"Bucket": "src", "Key": "tab\there", "Size": "1"},
            {"Key": f"k{i}", "Bucket": "src", "Size": "1"},  # another key order
            {"Bucket": "src", "Key": f"k{i}", "Other": "1"},  # another key
            {"Bucket": "src", "Key": f"k{i}"},  # fewer keys
            {"Bucket": "src", "Key": f"k{i}", "Size": "1", "More": "2"},
            {"Bucket": "src", "Key": i, "Size": "1"},
            {"Bucket": "src", "Key": Text(f"k{i}"), "Size": "1"},
            {"Bucket": None, "Key": "k", "Size": "1"},
            {},
            [i],
            f"text-{i}",
        ]
    )


def items(seed: int, n: int, odd_share: float) -> list[Any]:
    rng = random.Random(seed)
    return [odd(rng, i) if rng.random() < odd_share else row(rng, i) for i in range(n)]


@pytest.mark.parametrize("odd_share", [0.0, 0.01, 0.5])
def test_a_chunk_text_is_the_encoding_of_its_items(odd_share: float) -> None:
    for seed in range(40):
        chunk = items(seed, random.Random(seed).randrange(1, 60), odd_share)
        text = chunk_text(chunk)
        if text is not None:
            assert text == compact(chunk)[1:-1]
        if odd_share == 0.0:
            assert text is not None  # plain rows with the same keys: templated


def test_keys_are_checked_item_by_item() -> None:
    plain = {"a": "1", "b": "2"}
    assert chunk_text([plain, {"b": "2", "a": "1"}]) is None  # same keys, other order
    assert chunk_text([plain, {"a": "1"}, {"b": "2"}]) is None  # the keys, split up
    assert chunk_text([plain, {"a": "1", "c": "2"}]) is None
    assert (
        chunk_text([{"100%": "x", "%s": "%d"}] * 3)
        == compact([{"100%": "x", "%s": "%d"}] * 3)[1:-1]
    )
    assert chunk_text([]) is None
    assert chunk_text([{'q"': "1"}]) is None  # a key that needs escaping
    # a later item's one key holding the separator of the key check: not the same keys
    assert chunk_text([plain, {"a\x00b": "1"}]) is None


@pytest.mark.parametrize("odd_share", [0.0, 0.002, 0.3])
@pytest.mark.parametrize(
    ("max_items", "max_bytes"), [(400, None), (7, None), (None, 3000), (50, 1500), (None, None)]
)
@pytest.mark.parametrize("batch_input", [None, BATCH_INPUT, "just text"])
def test_every_batch_text_is_its_encoding(
    odd_share: float, max_items: int | None, max_bytes: int | None, batch_input: Any
) -> None:
    source = items(int(odd_share * 1000) + (max_items or 0), 3 * CHUNK + 17, odd_share)
    batches = batch_items(
        iter(source), max_items=max_items, max_bytes=max_bytes, batch_input=batch_input
    )
    seen = 0
    for batch in batches:
        assert batches.text(batch) == compact(batch)
        seen += len(batch["Items"])
    assert seen == len(source)


def test_plain_batches_keep_the_text_made_while_filling() -> None:
    """The fast path is taken: the last batch's text is kept (the same object twice),
    an earlier batch's is encoded again (a new, equal object)."""
    source = items(7, 1000, 0.0)
    batches = batch_items(iter(source), max_items=400, max_bytes=None, batch_input=BATCH_INPUT)
    first = next(batches)
    assert batches.text(first) is batches.text(first)
    second = next(batches)
    assert batches.text(second) is batches.text(second)
    assert batches.text(first) is not batches.text(first)
    assert batches.text(first) == compact(first)
    assert batches.text(second) == compact(second)


def test_a_batch_with_an_odd_item_is_encoded() -> None:
    source = items(8, 20, 0.0)
    source[5] = {"Bucket": "src", "Key": "café", "Size": "1"}
    batches = batch_items(iter(source), max_items=10, max_bytes=None, batch_input=None)
    first = next(batches)
    assert batches.text(first) is not batches.text(first)  # encoded at each call
    assert batches.text(first) == compact(first)
    second = next(batches)
    assert batches.text(second) is batches.text(second)  # plain: templated
