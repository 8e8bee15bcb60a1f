"""SelectedItems: items selected ahead of the batcher give the batches of the selected list."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.engine.item_batcher import CHUNK, batch_items
from montemap.engine.item_selection import SelectedItems
from montemap.engine.jsontext import compact_dumps
from montemap.errors import StatesError


class Boom(Exception):
    pass


def raw_items(count: int, fail_at: int | None = None) -> Iterator[Any]:
    for i in range(count):
        if i == fail_at:
            raise Boom(f"item {i}")
        yield {"k": f"key-{i}", "n": i}


def select_of(rng: random.Random) -> Any:
    pads = [rng.choice([0, 1, 5, 40, 300]) for _ in range(5000)]
    letter = rng.choice(["é", "e"])  # non-ASCII items are sized by their UTF-8 bytes

    async def select(index: int, value: Any) -> Any:
        await asyncio.sleep(0)  # selection may await (JSONata off the event loop)
        return {"i": index, "v": value, "pad": letter * pads[index % len(pads)]}

    return select


def expected(
    count: int, select: Any, fail_at: int | None, limits: dict[str, Any]
) -> tuple[list[Any], type[Exception] | None]:
    """The batches of the already selected items, and the exception that ends them."""

    async def all_selected() -> list[Any]:
        end = count if fail_at is None else fail_at
        return [await select(i, v) for i, v in zip(range(end), raw_items(end), strict=True)]

    items = asyncio.run(all_selected())

    def source() -> Iterator[Any]:
        yield from items
        if fail_at is not None:
            raise Boom("end")

    batches: list[Any] = []
    try:
        batches.extend(batch_items(source(), batch_input=None, **limits))
    except Boom:
        return batches, Boom
    return batches, None


def batched(
    count: int, select: Any, fail_at: int | None, limits: dict[str, Any]
) -> tuple[list[Any], type[Exception] | None]:
    """The batches taken the way the Map Run driver takes them: fill, then one batch."""

    async def scenario() -> tuple[list[Any], type[Exception] | None]:
        selection = SelectedItems(
            raw_items(count, fail_at),
            select,
            max_items=limits["max_items"],
            max_bytes=limits["max_bytes"],
        )
        batches = batch_items(selection, batch_input=None, **limits)
        got: list[Any] = []
        while True:
            await selection.fill()
            try:
                got.append(next(batches))
            except StopIteration:
                return got, None
            except Boom:
                return got, Boom
            # The child's input text (made from the items' texts when they are ASCII).
            assert batches.text(got[-1]) == compact_dumps(got[-1])

    return asyncio.run(scenario())


@pytest.mark.parametrize("seed", range(16))
def test_batches_equal_those_of_the_selected_list(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.choice([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7, 1500])
    limits = {
        "max_items": rng.choice([None, 1, 3, 100, CHUNK + 3]),
        "max_bytes": rng.choice([None, 2_000, 30_000]),
    }
    fail_at = rng.choice([None, None, count // 2]) if count else None
    select = select_of(rng)
    assert batched(count, select, fail_at, limits) == expected(count, select, fail_at, limits)


def test_taking_items_not_selected_yet_is_refused() -> None:
    async def select(index: int, value: Any) -> Any:
        return value

    selection = SelectedItems(raw_items(10), select, max_items=3, max_bytes=None)
    with pytest.raises(StatesError, match="not selected yet"):
        selection.take(3)


def test_a_selector_error_is_raised_by_fill() -> None:
    async def select(index: int, value: Any) -> Any:
        if index == 4:
            raise StatesError("States.Runtime", "no such path")
        return value

    async def scenario() -> None:
        selection = SelectedItems(raw_items(10), select, max_items=3, max_bytes=None)
        await selection.fill()
        assert [item["n"] for item in selection.take(3)[0]] == [0, 1, 2]
        with pytest.raises(StatesError, match="no such path"):
            await selection.fill()

    asyncio.run(scenario())


@pytest.mark.parametrize("letter", ["e", "é"])
@pytest.mark.parametrize("max_items", [None, 10])
def test_the_byte_limit_counts_utf8_bytes(letter: str, max_items: int | None) -> None:
    """Ten items of 60 letters fit in 1,000 characters, but not in 1,000 UTF-8 bytes."""

    async def select(index: int, value: Any) -> Any:
        return {"i": index, "pad": letter * 60}

    limits = {"max_items": max_items, "max_bytes": 1_000}
    got, _ = batched(700, select, None, limits)
    assert got == expected(700, select, None, limits)[0]
    assert all(len(compact_dumps(batch).encode()) <= 1_000 for batch in got)
