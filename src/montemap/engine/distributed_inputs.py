"""What a Distributed Map iterates over, resolved from the state's fields.

The items (inline, or streamed from an ``ItemReader``), grouped by an
``ItemBatcher``, and the ``ResultWriter`` the results go to. The item and
batch generators cannot await, so :func:`evaluate_fields` first evaluates the
JSONata templates they need.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData
from montemap.engine.map_fields import map_items
from montemap.errors import StatesError

if TYPE_CHECKING:
    from montemap.engine.result_writer import ResultWriter
    from montemap.engine.run import ExecutionRun

__all__ = ["child_items", "evaluate_fields", "result_writer"]


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
    reader = state.get("ItemReader")
    if reader is None:
        yield from prepared["Items"]
        return
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
    resolved["ReaderConfig"] = config
    store = run.engine.object_store
    if store is None:
        raise StatesError(
            "States.ItemReaderFailed", "No object store is configured on this server."
        )
    yield from read_items(store, resolved, max_items=max_items)


def _batches(
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    items: Iterator[Any],
    prepared: Mapping[str, Any],
) -> Iterator[Any]:
    batcher = state.get("ItemBatcher")
    if batcher is None:
        yield from items
        return
    from montemap.engine.item_batcher import batch_items

    def number(key: str) -> int | None:
        if key in batcher:
            value = batcher[key]
            if data.jsonata:
                value = prepared[f"ItemBatcher/{key}"]
            return int(value)
        if f"{key}Path" in batcher:
            return int(data.path(batcher[f"{key}Path"], effective, f"{key}Path"))
        return None

    batch_input = batcher.get("BatchInput")
    if batch_input is not None:
        if data.jsonata:
            batch_input = prepared["ItemBatcher/BatchInput"]
        else:
            batch_input = data.payload(batch_input, effective)
    yield from batch_items(
        items,
        max_items=number("MaxItemsPerBatch"),
        max_bytes=number("MaxInputBytesPerBatch"),
        batch_input=batch_input,
    )


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
) -> Iterator[Any]:
    """The children's inputs, streamed: each item, or each batch with an ItemBatcher.

    ``prepared`` is what :func:`evaluate_fields` returned.
    """
    items = _items(run, state, data, effective, prepared)
    return _batches(state, data, effective, items, prepared)
