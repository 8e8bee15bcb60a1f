"""ItemSelector with an ItemBatcher: each item is selected, then the selected items are batched.

AWS applies a Distributed Map's fields in the order ItemReader, ItemsPath/Items,
ItemSelector, ItemBatcher, ResultWriter; ``$$.Map.Item.Index`` is the item's position
in the whole item list. The expected batches here are made in the test from the
raw items (read with :func:`read_items`) and a Python rendering of the selector.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.item_batcher import serialized_size
from montemap.engine.item_reader import read_items
from montemap.storage import LocalObjectStore
from tests.dmap.engine_env import activity_step, dmap, engine_at, machine, map_run_arn, take
from tests.dmap.test_inventory_fast_path import drain, inventory_text, oracle_rows, put_inventory
from tests.dmap.test_item_reader import list_reader, parquet_bytes, put_manifest, reader

ECHO = {"Echo": {"Type": "Pass", "End": True}}
SELECTOR = {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "tag.$": "$.tag"}
JSONATA_SELECTOR = (
    "{% {'v': $states.context.Map.Item.Value, 'i': $states.context.Map.Item.Index,"
    " 'tag': $states.input.tag} %}"
)


def selected(items: list[Any], tag: str = "t1") -> list[dict[str, Any]]:
    """The selector's output for each item, as AWS gives it."""
    return [{"v": item, "i": i, "tag": tag} for i, item in enumerate(items)]


def in_batches(items: list[Any], size: int, batch_input: Any = None) -> list[dict[str, Any]]:
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    if batch_input is None:
        return [{"Items": b} for b in batches]
    return [{"BatchInput": batch_input, "Items": b} for b in batches]


def jsonata(definition: dict[str, Any]) -> dict[str, Any]:
    """``definition`` (one Map state ``M``) in JSONata: ``Items`` in place of ``ItemsPath``."""
    state = definition["States"]["M"]
    if "ItemReader" in state and "Parameters" in state["ItemReader"]:
        state["ItemReader"] = dict(state["ItemReader"])
        state["ItemReader"]["Arguments"] = state["ItemReader"].pop("Parameters")
    if "ItemsPath" in state:
        del state["ItemsPath"]
        if "ItemReader" not in state:
            state["Items"] = "{% $states.input.items %}"
    return {"QueryLanguage": "JSONata", **definition}


async def run_map(path: Path, definition: dict[str, Any], payload: Any) -> Any:
    async with engine_at(path) as engine:
        rec = await engine.start_execution(machine(definition), name="e", input=json.dumps(payload))
        return await asyncio.wait_for(engine.wait_for(rec.execution_arn), 60)


def map_output(path: Path, definition: dict[str, Any], payload: Any) -> Any:
    done = asyncio.run(run_map(path, definition, payload))
    assert done.status == "SUCCEEDED", done.cause
    return json.loads(done.output or "")


def reader_map(language: str, spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    selector = JSONATA_SELECTOR if language == "JSONata" else SELECTOR
    definition = dmap(
        ECHO, execution_type="EXPRESS", ItemSelector=selector, ItemReader=spec, **fields
    )
    del definition["States"]["M"]["ItemsPath"]
    return jsonata(definition) if language == "JSONata" else definition


# ------------------------------------------------------------------------------ items in the input


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
@pytest.mark.parametrize("execution_type", ["STANDARD", "EXPRESS"])
def test_items_are_selected_then_batched(
    tmp_path: Path, language: str, execution_type: str
) -> None:
    items = [{"n": n, "name": f"item-{n}"} for n in range(7)]
    selector = JSONATA_SELECTOR if language == "JSONata" else SELECTOR
    definition = dmap(
        ECHO,
        execution_type=execution_type,
        ItemSelector=selector,
        ItemBatcher={"MaxItemsPerBatch": 3, "BatchInput": {"run": "r1"}},
    )
    if language == "JSONata":
        definition = jsonata(definition)
    output = map_output(tmp_path, definition, {"items": items, "tag": "t1"})
    assert output == in_batches(selected(items), 3, {"run": "r1"})


def test_parameters_select_like_item_selector(tmp_path: Path) -> None:
    definition = dmap(
        ECHO, Parameters={"x.$": "$$.Map.Item.Value"}, ItemBatcher={"MaxItemsPerBatch": 2}
    )
    output = map_output(tmp_path, definition, {"items": [1, 2, 3]})
    assert output == [{"Items": [{"x": 1}, {"x": 2}]}, {"Items": [{"x": 3}]}]


def test_byte_limit_is_measured_on_the_selected_items(tmp_path: Path) -> None:
    """Unselected, all 20 small items fit in one batch of 400 bytes; selected (each
    padded to over 100 bytes), they need several, each within the limit and full."""
    items = list(range(20))
    limit = 400
    pad = "p" * 90
    definition = dmap(
        ECHO,
        ItemSelector={"n.$": "$$.Map.Item.Value", "pad": pad},
        ItemBatcher={"MaxInputBytesPerBatch": limit},
    )
    assert serialized_size({"Items": items}) < limit
    output = map_output(tmp_path, definition, {"items": items})
    assert len(output) > 1
    assert [item for batch in output for item in batch["Items"]] == [
        {"n": n, "pad": pad} for n in items
    ]
    for n, batch in enumerate(output):
        assert serialized_size(batch) <= limit
        if n + 1 < len(output):  # the next selected item would not have fitted
            bigger = {"Items": [*batch["Items"], output[n + 1]["Items"][0]]}
            assert serialized_size(bigger) > limit


def test_a_selected_item_too_big_for_a_batch_fails_the_map(tmp_path: Path) -> None:
    definition = dmap(
        ECHO,
        ItemSelector={"n.$": "$$.Map.Item.Value", "pad": "p" * 200},
        ItemBatcher={"MaxInputBytesPerBatch": 100},
    )
    done = asyncio.run(run_map(tmp_path, definition, {"items": [1, 2]}))
    assert done.status == "FAILED"
    assert done.error == "States.ItemReaderFailed"
    assert "index 0" in (done.cause or "")


@pytest.mark.parametrize(
    ("language", "selector", "error"),
    [
        ("JSONPath", {"x.$": "$$.Map.Item.Value.missing"}, "States.Runtime"),
        ("JSONata", "{% $states.context.Map.Item.Value.n / 'a' %}", "States.QueryEvaluationError"),
    ],
)
def test_a_failing_item_selector_fails_the_map(
    tmp_path: Path, language: str, selector: Any, error: str
) -> None:
    definition = dmap(ECHO, ItemSelector=selector, ItemBatcher={"MaxItemsPerBatch": 2})
    if language == "JSONata":
        definition = jsonata(definition)
    done = asyncio.run(run_map(tmp_path, definition, {"items": [{"n": 1}, {"n": 2}]}))
    assert done.status == "FAILED"
    assert done.error == error
    assert done.cause


# ------------------------------------------------------------------------------ ItemReaders


def _json_items(store: LocalObjectStore) -> dict[str, Any]:
    body = [{"id": i, "name": f"n{i}", "é": "ü" * (i % 3)} for i in range(23)]
    store.put("data", "items.json", json.dumps(body).encode())
    return reader("JSON", "items.json")


def _jsonl_items(store: LocalObjectStore) -> dict[str, Any]:
    lines = [json.dumps({"id": i, "ok": i % 2 == 0}) for i in range(23)]
    store.put("data", "items.jsonl", "\n".join(lines).encode())
    return reader("JSONL", "items.jsonl")


def _csv_items(store: LocalObjectStore) -> dict[str, Any]:
    rows = ["id,name"] + [f"{i},name {i}" for i in range(23)]
    store.put("data", "items.csv", "\n".join(rows).encode())
    return reader("CSV", "items.csv", CSVHeaderLocation="FIRST_ROW")


def _listed_items(store: LocalObjectStore) -> dict[str, Any]:
    for i in range(23):
        store.put("data", f"objs/{i:03d}.bin", b"x" * i)
    return list_reader("objs/")


def _manifest_items(store: LocalObjectStore) -> dict[str, Any]:
    text = "".join(f'"data","key/{i}","{i}","2022-11-16T00:27:19.000Z"\n' for i in range(23))
    put_manifest(store, {"inv/data/1.csv.gz": gzip.compress(text.encode())})
    return reader("MANIFEST", "inv/manifest.json", bucket="inventory")


def _parquet_items(store: LocalObjectStore) -> dict[str, Any]:
    body = parquet_bytes(id=list(range(23)), name=[f"n{i}" for i in range(23)])
    store.put("data", "items.parquet", body)
    return reader("PARQUET", "items.parquet")


READERS = {
    "JSON": _json_items,
    "JSONL": _jsonl_items,
    "CSV": _csv_items,
    "LIST": _listed_items,
    "MANIFEST": _manifest_items,
    "PARQUET": _parquet_items,
}


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
@pytest.mark.parametrize("kind", list(READERS))
def test_every_reader_gives_selected_batches(tmp_path: Path, kind: str, language: str) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("data")
    spec = READERS[kind](store)
    raw = list(read_items(store, spec))
    assert len(raw) == 23
    definition = reader_map(language, spec, ItemBatcher={"MaxItemsPerBatch": 5})
    output = map_output(tmp_path, definition, {"tag": "t1"})
    assert output == in_batches(selected(raw), 5)


@pytest.mark.parametrize("batcher", [{"MaxItemsPerBatch": 400}, {"MaxInputBytesPerBatch": 20_000}])
def test_inventory_rows_are_selected_before_the_batch_text(
    tmp_path: Path, batcher: dict[str, int]
) -> None:
    """The inventory fast path (rows taken with their batch text) gives way to selection."""
    store = LocalObjectStore(tmp_path / "buckets")
    rng = random.Random(5)
    parts = [gzip.compress(inventory_text(rng, 300, share).encode()) for share in (0.0, 0.1)]
    spec = put_inventory(store, parts)
    rows, error = drain(oracle_rows(store, len(parts)))
    assert error is None and len(rows) > 400
    definition = reader_map("JSONPath", spec, ItemBatcher=batcher)
    output = map_output(tmp_path, definition, {"tag": "t1"})
    assert [item for batch in output for item in batch["Items"]] == selected(rows)
    if "MaxInputBytesPerBatch" in batcher:
        assert all(serialized_size(batch) <= 20_000 for batch in output)
        assert len(output) > 1
    else:
        assert [len(batch["Items"]) for batch in output[:-1]] == [400] * (len(output) - 1)


def test_no_selector_keeps_the_raw_items(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("data")
    spec = _csv_items(store)
    definition = dmap(
        ECHO, execution_type="EXPRESS", ItemReader=spec, ItemBatcher={"MaxItemsPerBatch": 10}
    )
    del definition["States"]["M"]["ItemsPath"]
    output = map_output(tmp_path, definition, {})
    assert output == in_batches(list(read_items(store, spec)), 10)


# ------------------------------------------------------------------------------ failures, redrive

WRITER = {
    "Resource": "arn:aws:states:::s3:putObject",
    "Parameters": {"Bucket": "out", "Prefix": "res"},
}


def test_pending_results_hold_the_selected_batches(tmp_path: Path) -> None:
    items = [{"n": n} for n in range(10)]
    expected = in_batches(selected(items), 2, {"run": "r1"})

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            engine.object_store.create_bucket("out")  # type: ignore[union-attr]
            definition = dmap(
                activity_step(),
                MaxConcurrency=1,
                ToleratedFailureCount=0,
                ItemSelector=SELECTOR,
                ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"run": "r1"}},
                ResultWriter=WRITER,
            )
            rec = await engine.start_execution(
                machine(definition), name="p", input=json.dumps({"items": items, "tag": "t1"})
            )
            token, value = await take(engine)
            assert value == expected[0]
            await engine.send_task_failure(token, "Bad", "batch 0")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 20)
            assert done.error == "States.ExceedToleratedFailureThreshold"
            run_id = map_run_arn(engine, rec.execution_arn).rsplit(":", 1)[1]
            bucket = tmp_path / "buckets" / "out"
            manifest = json.loads((bucket / "res" / run_id / "manifest.json").read_text())
            failed = json.loads((bucket / manifest["ResultFiles"]["FAILED"][0]["Key"]).read_text())
            pending = json.loads(
                (bucket / manifest["ResultFiles"]["PENDING"][0]["Key"]).read_text()
            )
            assert [json.loads(r["Input"]) for r in failed] == expected[:1]
            assert [json.loads(r["Input"]) for r in pending] == expected[1:]

    asyncio.run(scenario())


def test_redrive_reruns_the_selected_batches(tmp_path: Path) -> None:
    items = [{"n": n} for n in range(6)]
    expected = in_batches(selected(items), 2)

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(
                activity_step(),
                MaxConcurrency=1,
                ToleratedFailureCount=0,
                ItemSelector=SELECTOR,
                ItemBatcher={"MaxItemsPerBatch": 2},
            )
            rec = await engine.start_execution(
                machine(definition), name="r", input=json.dumps({"items": items, "tag": "t1"})
            )
            arn = rec.execution_arn
            token, value = await take(engine)  # batch 0 succeeds
            assert value == expected[0]
            await engine.send_task_success(token, json.dumps({"done": 0}))
            token, value = await take(engine)  # batch 1 fails: the threshold (0) is passed
            assert value == expected[1]
            await engine.send_task_failure(token, "Bad", "batch 1")
            failed = await asyncio.wait_for(engine.wait_for(arn), 20)
            assert failed.status == "FAILED"
            assert engine.redrive_execution(arn) is not None
            served = []
            for _ in range(2):  # the failed batch, then the one never started
                token, value = await take(engine)
                served.append(value)
                await engine.send_task_success(token, json.dumps({"done": len(served)}))
            done = await asyncio.wait_for(engine.wait_for(arn), 20)
            assert done.status == "SUCCEEDED", done.cause
            assert served == expected[1:]
            assert json.loads(done.output or "") == [{"done": 0}, {"done": 1}, {"done": 2}]
            described = engine.describe_map_run(map_run_arn(engine, arn))
            assert described["itemCounts"]["succeeded"] == 6
            assert described["executionCounts"]["succeeded"] == 3

    asyncio.run(scenario())


def test_a_selector_failing_mid_run_aborts_the_running_children(tmp_path: Path) -> None:
    """Batch 0 has started when item 3 (of the next batch) cannot be selected: the Map Run
    fails with the selector's error and the running child is aborted."""
    items = [{"n": n} for n in range(3)] + [{"m": 3}]

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert store is not None
            store.create_bucket("data")
            store.put("data", "items.json", json.dumps(items).encode())
            definition = dmap(
                activity_step(),
                ItemReader=reader("JSON", "items.json"),
                ItemSelector={"n.$": "$$.Map.Item.Value.n"},
                ItemBatcher={"MaxItemsPerBatch": 3},
            )
            del definition["States"]["M"]["ItemsPath"]
            rec = await engine.start_execution(machine(definition), name="f", input="{}")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 20)
            assert done.status == "FAILED"
            assert done.error == "States.Runtime"
            assert "$$.Map.Item.Value.n" in (done.cause or "")
            run_arn = map_run_arn(engine, rec.execution_arn)
            children = engine.db.query(
                "SELECT status, input FROM executions WHERE map_run_arn = ?", (run_arn,)
            )
            assert [c["status"] for c in children] == ["ABORTED"]
            described = engine.describe_map_run(run_arn)
            assert described["status"] == "FAILED"
            assert described["executionCounts"]["running"] == 0
            assert described["executionCounts"]["aborted"] == 1

    asyncio.run(scenario())


def test_a_reader_failure_is_still_the_readers(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("data")
    definition = reader_map(
        "JSONPath", reader("JSON", "missing.json"), ItemBatcher={"MaxItemsPerBatch": 2}
    )
    done = asyncio.run(run_map(tmp_path, definition, {"tag": "t1"}))
    assert done.status == "FAILED"
    assert done.error == "States.ItemReaderFailed"
    assert "missing.json" in (done.cause or "")


def test_without_a_batcher_a_failing_selector_also_aborts_the_running_children(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), ItemSelector={"n.$": "$$.Map.Item.Value.n"})
            rec = await engine.start_execution(
                machine(definition), name="u", input=json.dumps({"items": [{"n": 0}, {"m": 1}]})
            )
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 20)
            assert done.status == "FAILED"
            assert done.error == "States.Runtime"
            run_arn = map_run_arn(engine, rec.execution_arn)
            children = engine.db.query(
                "SELECT status, input FROM executions WHERE map_run_arn = ?", (run_arn,)
            )
            assert [(c["status"], json.loads(c["input"])) for c in children] == [
                ("ABORTED", {"n": 0})
            ]

    asyncio.run(scenario())
