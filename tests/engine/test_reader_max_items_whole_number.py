"""``ItemReader.ReaderConfig.MaxItems`` and the ``ItemBatcher`` sizes written as
whole-valued floats (``2.0``, accepted by ValidateStateMachineDefinition as the integer
2, JSON having one number type) run as ``2`` does, written in the definition or found by
a path. ``MaxItems: 2.0`` used to pass validation and then fail every execution with
``States.ItemReaderFailed`` ("field MaxItems must be an integer ..., got 2.0")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.asl.definition import validate_definition
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.item_batcher import batch_items
from montemap.engine.reader_config import parse_reader
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore
from tests.engine.helpers import machine


def _definition(config: dict[str, Any], batcher: dict[str, Any] | None) -> dict[str, Any]:
    inner = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Echo",
        "States": {"Echo": {"Type": "Pass", "End": True}},
    }
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "data", "Key": "items.json"},
        "ReaderConfig": {"InputType": "JSON", **config},
    }
    state: dict[str, Any] = {"Type": "Map", "ItemReader": reader, "ItemProcessor": inner}
    if batcher is not None:
        state["ItemBatcher"] = batcher
    return {"StartAt": "Each", "States": {"Each": {**state, "End": True}}}


@pytest.mark.parametrize(
    ("config", "batcher", "given", "output"),
    [
        ({"MaxItems": 2.0}, None, {}, [1, 2]),
        ({"MaxItemsPath": "$.n"}, None, {"n": 2.0}, [1, 2]),
        ({"MaxItems": 3.0}, {"MaxItemsPerBatch": 2.0}, {}, [{"Items": [1, 2]}, {"Items": [3]}]),
        (
            {"MaxItemsPath": "$.n"},
            {"MaxItemsPerBatchPath": "$.b", "MaxInputBytesPerBatchPath": "$.bytes"},
            {"n": 3.0, "b": 2.0, "bytes": 1000.0},
            [{"Items": [1, 2]}, {"Items": [3]}],
        ),
    ],
    ids=["max-items", "max-items-path", "with-batcher", "all-paths"],
)
def test_a_whole_valued_float_limit_runs_as_its_integer(
    tmp_path: Path,
    config: dict[str, Any],
    batcher: dict[str, Any] | None,
    given: Any,
    output: Any,
) -> None:
    definition = _definition(config, batcher)
    assert [d for d in validate_definition(definition) if d.severity == "ERROR"] == []
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("data")
    store.put("data", "items.json", b"[1, 2, 3, 4]")

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), store=store)
        await engine.start()
        rec = await engine.start_execution(machine(definition), name="t", input=json.dumps(given))
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        await engine.close()
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        assert json.loads(done.output or "") == output

    asyncio.run(scenario())


def _reader(**config: Any) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "data", "Key": "items.json"},
        "ReaderConfig": {"InputType": "JSON", **config},
    }


def test_reader_config_takes_a_whole_valued_float_and_refuses_a_fraction() -> None:
    assert parse_reader(_reader(MaxItems=2.0), None).max_items == 2
    assert parse_reader(_reader(), 5.0).max_items == 5  # type: ignore[arg-type]
    assert parse_reader(_reader(MaxItems=0.0), None).max_items is None  # 0: no limit
    for bad in (2.5, -1.0, 1e9, float("nan"), True):
        with pytest.raises(StatesError, match="field MaxItems must be an integer"):
            parse_reader(_reader(MaxItems=bad), None)


def test_batcher_takes_whole_valued_float_sizes_and_refuses_fractions() -> None:
    batches = batch_items(range(5), max_items=2.0, max_bytes=1000.0, batch_input=None)  # type: ignore[arg-type]
    assert [b["Items"] for b in batches] == [[0, 1], [2, 3], [4]]
    with pytest.raises(StatesError, match=r"must be a positive integer, got 2\.5"):
        batch_items([], max_items=2.5, max_bytes=None, batch_input=None)  # type: ignore[arg-type]
    with pytest.raises(StatesError, match="at most 262144"):
        batch_items([], max_items=None, max_bytes=262145.0, batch_input=None)  # type: ignore[arg-type]
