"""What a Distributed Map iterates over, resolved from the state's fields.

The items (inline, or streamed from an ``ItemReader``), grouped by an
``ItemBatcher``, and the ``ResultWriter`` the results go to. The item and
batch generators cannot await, so :func:`evaluate_fields` first evaluates the
JSONata templates they need.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData, dumps
from montemap.engine.item_chunks import Chunk, taker
from montemap.engine.map_fields import (
    item_selector,
    jsonpath_selection,
    map_items,
    select_item,
)
from montemap.errors import QUERY_EVALUATION_ERROR, RUNTIME, StatesError

if TYPE_CHECKING:
    from montemap.engine.item_batcher import Batches
    from montemap.engine.item_selection import SelectedItems
    from montemap.engine.result_writer import ResultWriter
    from montemap.engine.run import ExecutionRun

__all__ = ["ChildInputs", "child_items", "evaluate_fields", "result_writer"]


async def evaluate_fields(
    state: Mapping[str, Any], data: StateData, effective: Any
) -> dict[str, Any]:
    """What the item and batch generators need evaluated first (they cannot await).

    Keys: ``Items`` (the inline items, without an ItemReader) and, in JSONata,
    the templates of ItemReader and ItemBatcher by their field names.
    """
    prepared: dict[str, Any] = {}
    reader = state.get("ItemReader")
    if reader is None:
        prepared["Items"] = await map_items(state, data, effective)
    elif data.jsonata:
        if "Arguments" in reader:
            field = "ItemReader/Arguments"
            prepared[field] = await data.eval_jsonata(reader["Arguments"], field)
        max_items = reader.get("ReaderConfig", {}).get("MaxItems")
        if isinstance(max_items, str):
            field = "ItemReader/ReaderConfig/MaxItems"
            prepared[field] = await data.eval_jsonata(max_items, field)
    batcher = state.get("ItemBatcher")
    if batcher is not None and data.jsonata:
        for key in ("MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"):
            if batcher.get(key) is not None:
                field = f"ItemBatcher/{key}"
                prepared[field] = await data.eval_jsonata(batcher[key], field)
    return prepared


def _items(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    prepared: Mapping[str, Any],
) -> Iterator[Any]:
    """The items, resolved at the first one asked for (see :class:`_Items`)."""
    return _Items(functools.partial(_item_source, run, state, data, effective, prepared))


class _Items(Iterator[Any]):
    """The items ``resolve`` gives, called at the first item asked for: one at a time, or a
    chunk with :meth:`take` (the reader's own when it has one, which may make the chunk's
    text too; see :mod:`montemap.engine.item_chunks`)."""

    def __init__(self, resolve: Callable[[], Iterator[Any]]) -> None:
        self._resolve: Callable[[], Iterator[Any]] | None = resolve
        self._items: Iterator[Any] = iter(())
        self._take: Callable[[int], Chunk] = self._first_take

    def _source(self) -> Iterator[Any]:
        if self._resolve is not None:
            resolve, self._resolve = self._resolve, None
            self._take = taker(self._items)  # no items, should resolving fail
            self._items = resolve()
            self._take = taker(self._items)
        return self._items

    def __next__(self) -> Any:
        return next(self._source())

    def take(self, count: int) -> Chunk:
        return self._take(count)

    def _first_take(self, count: int) -> Chunk:
        try:
            self._source()
        except Exception as exc:  # the reader's configuration, raised as the first item
            return [], None, exc
        return self._take(count)


def _item_source(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    prepared: Mapping[str, Any],
) -> Iterator[Any]:
    """The inline items, or the ItemReader's."""
    reader = state.get("ItemReader")
    if reader is None:
        return iter(prepared["Items"])
    from montemap.engine.item_reader import read_items

    resolved = dict(reader)
    if data.jsonata:
        if "Arguments" in reader:
            resolved["Parameters"] = prepared["ItemReader/Arguments"]
    elif "Parameters" in reader:
        resolved["Parameters"] = data.payload(reader["Parameters"], effective)
    config = dict(reader.get("ReaderConfig", {}))
    max_items: int | None = None
    if "MaxItems" in config:
        max_items = config["MaxItems"]
        if data.jsonata and isinstance(max_items, str):
            max_items = prepared["ItemReader/ReaderConfig/MaxItems"]
    elif "MaxItemsPath" in config:
        max_items = data.path(config["MaxItemsPath"], effective, "MaxItemsPath")
        if isinstance(max_items, float) and _whole(max_items):  # 2.0 is 2
            max_items = int(max_items)
    resolved["ReaderConfig"] = config
    store = run.engine.object_store
    if store is None:
        raise StatesError(
            "States.ItemReaderFailed", "No object store is configured on this server."
        )
    return read_items(store, resolved, max_items=max_items)


class ChildInputs(Iterator[Any]):
    """The children's inputs, streamed, and :meth:`text`, the compact JSON of one.

    With an ``ItemSelector`` and an ``ItemBatcher``, :meth:`ready` must be awaited
    before each input is taken (see :mod:`montemap.engine.item_selection`)."""

    def __init__(self) -> None:
        self.values: Iterator[Any] = iter(())
        self.batches: Batches | None = None  # once the ItemBatcher takes the items
        self.selection: SelectedItems | None = None  # items selected before batching

    def __next__(self) -> Any:
        return next(self.values)

    async def ready(self, *, everything: bool = False) -> None:
        """Select the items the next input takes (all of them with ``everything``)."""
        if self.selection is not None:
            await self.selection.fill(everything=everything)

    def text(self, value: Any) -> str:
        """``value``'s compact JSON text (a batch's may be made while it was filled)."""
        if self.batches is not None:
            return self.batches.text(value)
        return dumps(value)


#: The resolved ``MaxItemsPerBatch``, ``MaxInputBytesPerBatch`` and ``BatchInput``.
BatchSettings = tuple[int | None, int | None, Any]


def _batch_settings(
    batcher: Mapping[str, Any], data: StateData, effective: Any, prepared: Mapping[str, Any]
) -> BatchSettings:
    def number(key: str) -> int | None:
        if key in batcher:
            value = batcher[key]
            if data.jsonata:
                value = prepared[f"ItemBatcher/{key}"]
            return _batch_integer(
                value, key, None, QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME
            )
        if f"{key}Path" in batcher:
            path = batcher[f"{key}Path"]
            return _batch_integer(data.path(path, effective, f"{key}Path"), key, path, RUNTIME)
        return None

    batch_input = batcher.get("BatchInput")
    if batch_input is not None:
        if data.jsonata:
            batch_input = prepared["ItemBatcher/BatchInput"]
        else:
            batch_input = data.payload(batch_input, effective)
    return number("MaxItemsPerBatch"), number("MaxInputBytesPerBatch"), batch_input


def _batch_integer(value: Any, key: str, path: str | None, error: str) -> int:
    """An ItemBatcher size as an integer (its range is the batcher's to check): a whole
    number, or from a path also a numeric string; anything else fails the state."""
    if path is not None and isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and _whole(value):
        return int(value)
    if path is None:
        raise StatesError(error, f"The {key} field must be an integer, but was: {dumps(value)}")
    shown = value if isinstance(value, str) else dumps(value)
    raise StatesError(
        error, f'The {key}Path field refers to value "{shown}" which is not a valid integer: {path}'
    )


def _whole(value: float) -> bool:
    return math.isfinite(value) and value == int(value)


def _batches(
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    items: Iterator[Any],
    prepared: Mapping[str, Any],
    inputs: ChildInputs,
    settings: BatchSettings | None = None,
) -> Iterator[Any]:
    batcher = state.get("ItemBatcher")
    if batcher is None:
        yield from items
        return
    from montemap.engine.item_batcher import batch_items

    if settings is None:
        settings = _batch_settings(batcher, data, effective, prepared)
    max_items, max_bytes, batch_input = settings
    inputs.batches = batch_items(
        items, max_items=max_items, max_bytes=max_bytes, batch_input=batch_input
    )
    yield from inputs.batches


async def result_writer(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    map_run_arn: str,
) -> ResultWriter | None:
    """A ResultWriter when the state exports results to the object store, else None."""
    spec = state.get("ResultWriter")
    if spec is None or "Resource" not in spec:
        return None
    from montemap.engine.result_writer import ResultWriter

    resolved = dict(spec)
    if data.jsonata:
        if "Arguments" in spec:
            resolved["Arguments"] = await data.eval_jsonata(
                spec["Arguments"], "ResultWriter/Arguments"
            )
    elif "Parameters" in spec:
        resolved["Parameters"] = data.payload(spec["Parameters"], effective)
    store = run.engine.object_store
    if store is None:
        raise StatesError(
            "States.ResultWriterFailed", "No object store is configured on this server."
        )
    return ResultWriter.from_state(store, resolved, map_run_arn=map_run_arn)


def child_items(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    prepared: Mapping[str, Any],
) -> ChildInputs:
    """The children's inputs, streamed: each item, or each batch with an ItemBatcher.

    ``prepared`` is what :func:`evaluate_fields` returned. With an ItemBatcher and an
    ItemSelector, the batches hold the selected items (the batcher's settings are then
    resolved now, not at the first batch).
    """
    inputs = ChildInputs()
    items: Iterator[Any] = _items(run, state, data, effective, prepared)
    settings: BatchSettings | None = None
    batcher = state.get("ItemBatcher")
    if batcher is not None and item_selector(state) is not None:
        from montemap.engine.item_selection import SelectedItems

        settings = _batch_settings(batcher, data, effective, prepared)

        async def select(index: int, value: Any) -> Any:
            return await select_item(state, data, effective, index, value)

        inputs.selection = SelectedItems(
            items,
            select,
            max_items=settings[0],
            max_bytes=settings[1],
            sync=jsonpath_selection(state, data, effective),
        )
        items = inputs.selection
    inputs.values = _batches(state, data, effective, items, prepared, inputs, settings)
    return inputs
