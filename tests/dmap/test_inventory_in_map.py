"""A Distributed Map over an S3 Inventory: the children get the rows the line-by-line reader
gives, through an ItemSelector one by one or through an ItemBatcher in batches."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from montemap.storage import LocalObjectStore
from tests.dmap.engine_env import dmap, engine_at, machine
from tests.dmap.test_inventory_fast_path import drain, inventory_text, oracle_rows, put_inventory

ECHO = {"Echo": {"Type": "Pass", "End": True}}


def inventory(path: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """An inventory of plain rows and a few odd ones: its ItemReader, the oracle's rows."""
    store = LocalObjectStore(path / "buckets")
    rng = random.Random(11)
    parts = [gzip.compress(inventory_text(rng, 40, share).encode()) for share in (0.0, 0.2)]
    spec = put_inventory(store, parts)
    rows, error = drain(oracle_rows(store, len(parts)))
    assert error is None
    return spec, rows


async def map_output(path: Path, **fields: Any) -> Any:
    definition = dmap(ECHO, execution_type="EXPRESS", **fields)
    del definition["States"]["M"]["ItemsPath"]
    async with engine_at(path) as engine:
        rec = await engine.start_execution(machine(definition), name="e", input="{}")
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 60)
        assert done.status == "SUCCEEDED", done.cause
        return json.loads(done.output or "")


def test_item_selector_gets_each_row(tmp_path: Path) -> None:
    spec, rows = inventory(tmp_path)
    selector = {"row.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"}
    output = asyncio.run(map_output(tmp_path, ItemReader=spec, ItemSelector=selector))
    assert output == [{"row": row, "index": i} for i, row in enumerate(rows)]


@pytest.mark.parametrize("max_items", [7, 400])
def test_batches_hold_the_rows(tmp_path: Path, max_items: int) -> None:
    spec, rows = inventory(tmp_path)
    batcher = {"MaxItemsPerBatch": max_items, "BatchInput": {"run": "r1"}}
    output = asyncio.run(map_output(tmp_path, ItemReader=spec, ItemBatcher=batcher))
    expected = [rows[i : i + max_items] for i in range(0, len(rows), max_items)]
    assert output == [{"BatchInput": {"run": "r1"}, "Items": items} for items in expected]
