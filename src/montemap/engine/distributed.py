"""Distributed Map: a Map Run whose iterations are child executions.

Items come from the state input (ItemsPath/Items) or stream from an
ItemReader; an ItemBatcher groups them; each item or batch becomes one child
execution of the ItemProcessor, named after the Map Run and the item's index
so a restarted engine finds the children it already started. The parent waits
for children with at most MaxConcurrency running, counts failures against the
tolerated thresholds, and hands results to the ResultWriter as they arrive.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData, dumps
from montemap.engine.history import Event
from montemap.engine.map_runs import MapRunCounts
from montemap.engine.parallel import _int_field, map_items, select_item, tolerances
from montemap.engine.records import StateMachineRef
from montemap.engine.run import Outcome
from montemap.engine.store import FrameRow
from montemap.errors import EXCEED_TOLERATED_FAILURE_THRESHOLD, StatesError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun

#: MaxConcurrency 0 means this many children at once (AWS's maximum).
MAX_CONCURRENCY = 10_000


def _next(state: Mapping[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


def _child_definition(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any]
) -> str:
    processor = dict(state.get("ItemProcessor") or state.get("Iterator") or {})
    processor.pop("ProcessorConfig", None)
    machine = run.machine(frame.machine)
    language = state.get("QueryLanguage") or machine.get("QueryLanguage") or run.query_language
    if "QueryLanguage" not in processor and language != "JSONPath":
        processor["QueryLanguage"] = language
    return dumps(processor)


def _items(
    run: ExecutionRun, state: Mapping[str, Any], data: StateData, effective: Any
) -> Iterator[Any]:
    reader = state.get("ItemReader")
    if reader is None:
        yield from map_items(state, data, effective)
        return
    from montemap.engine.item_reader import read_items

    resolved = dict(reader)
    if data.jsonata:
        if "Arguments" in reader:
            resolved["Parameters"] = data.eval_jsonata(reader["Arguments"], "ItemReader/Arguments")
    elif "Parameters" in reader:
        resolved["Parameters"] = data.payload(reader["Parameters"], effective)
    config = dict(reader.get("ReaderConfig", {}))
    max_items: int | None = None
    if "MaxItems" in config:
        max_items = config["MaxItems"]
        if data.jsonata and isinstance(max_items, str):
            max_items = data.eval_jsonata(max_items, "ItemReader/ReaderConfig/MaxItems")
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
    state: Mapping[str, Any], data: StateData, effective: Any, items: Iterator[Any]
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
                value = data.eval_jsonata(value, f"ItemBatcher/{key}")
            return int(value)
        if f"{key}Path" in batcher:
            return int(data.path(batcher[f"{key}Path"], effective, f"{key}Path"))
        return None

    batch_input = batcher.get("BatchInput")
    if batch_input is not None:
        if data.jsonata:
            batch_input = data.eval_jsonata(batch_input, "ItemBatcher/BatchInput")
        else:
            batch_input = data.payload(batch_input, effective)
    yield from batch_items(
        items,
        max_items=number("MaxItemsPerBatch"),
        max_bytes=number("MaxInputBytesPerBatch"),
        batch_input=batch_input,
    )


async def run_distributed_map(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    engine = run.engine
    effective = data.effective_input(state)
    max_concurrency = (
        _int_field(run, state, data, effective, "MaxConcurrency", 0) or MAX_CONCURRENCY
    )
    map_run_arn: str | None = frame.phase.get("task_map_run")
    if map_run_arn is None:
        run.commit(frame, [Event("MapStateStarted", {"length": 0})])
    count, percentage = tolerances(state, data, effective)
    label = state.get("Label") or name
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    child_type = processor.get("ProcessorConfig", {}).get("ExecutionType", "STANDARD")
    sm_name = f"{run.row['state_machine_name']}/{label}"
    child_machine = StateMachineRef(
        arn=f"{run.row['state_machine_arn']}/{label}",
        name=sm_name,
        definition=_child_definition(run, frame, name, state),
        role_arn=run.row.get("role_arn") or "",
        type=child_type,
    )
    if map_run_arn is None:
        run_id = str(uuid.uuid4())
        map_run_arn = engine.arns.map_run(run.row["state_machine_name"], label, run_id)
        engine.map_runs.create(
            map_run_arn,
            execution_arn=run.arn,
            state_name=name,
            max_concurrency=max_concurrency,
            tolerated_failure_count=count or 0,
            tolerated_failure_percentage=percentage or 0.0,
            now=engine.clock.now(),
        )
        frame.phase["task_map_run"] = map_run_arn
        run.commit(frame, [Event("MapRunStarted", {"mapRunArn": map_run_arn})])
    run_id = map_run_arn.rsplit(":", 1)[1]
    writer = _result_writer(run, state, data, effective, map_run_arn)
    counts = engine.map_runs.counts(map_run_arn)
    try:
        outputs = await _drive(
            run,
            frame,
            state,
            data,
            effective,
            child_machine,
            map_run_arn,
            run_id,
            counts,
            writer,
            count,
            percentage,
        )
    except StatesError as err:
        engine.map_runs.finish(map_run_arn, "FAILED", engine.clock.now())
        if writer is not None:
            try:  # AWS exports the results of a failed Map Run too
                await asyncio.to_thread(writer.close)
            except StatesError:
                await asyncio.to_thread(writer.abort)
        run.commit(frame, [Event("MapRunFailed", {"error": err.error, "cause": err.cause or ""})])
        raise
    engine.map_runs.finish(map_run_arn, "SUCCEEDED", engine.clock.now())
    run.commit(frame, [Event("MapRunSucceeded")])
    run.commit(frame, [Event("MapStateSucceeded")])
    if writer is not None:
        result: Any = await asyncio.to_thread(writer.close)
    else:
        result = outputs
    result = data.select_result(state, result)
    data.assign(state.get("Assign"), result)
    return Outcome(data.output(state, result), _next(state))


def _result_writer(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    map_run_arn: str,
) -> Any:
    """A ResultWriter when the state exports results to the object store, else None."""
    spec = state.get("ResultWriter")
    if spec is None or "Resource" not in spec:
        return None
    from montemap.engine.result_writer import ResultWriter

    resolved = dict(spec)
    if data.jsonata:
        if "Arguments" in spec:
            resolved["Arguments"] = data.eval_jsonata(spec["Arguments"], "ResultWriter/Arguments")
    elif "Parameters" in spec:
        resolved["Parameters"] = data.payload(spec["Parameters"], effective)
    store = run.engine.object_store
    if store is None:
        raise StatesError(
            "States.ResultWriterFailed", "No object store is configured on this server."
        )
    return ResultWriter.from_state(store, resolved, map_run_arn=map_run_arn)


async def _drive(
    run: ExecutionRun,
    frame: FrameRow,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    child_machine: StateMachineRef,
    map_run_arn: str,
    run_id: str,
    counts: MapRunCounts,
    writer: Any,
    tolerated_count: int | None,
    tolerated_percentage: float | None,
) -> list[Any]:
    engine = run.engine
    existing = engine.map_runs.children(map_run_arn)
    outputs: dict[int, Any] = {}
    in_flight: set[asyncio.Task[None]] = set()
    failure: list[StatesError] = []
    items_total = 0
    keep_outputs = writer is None

    def exceeded() -> bool:
        failed = counts.items_failed
        if tolerated_count is None and tolerated_percentage is None:
            return failed > 0
        total = max(items_total, 1)
        over_count = tolerated_count is not None and failed > tolerated_count
        over_pct = (
            tolerated_percentage is not None and failed * 100.0 / total > tolerated_percentage
        )
        return over_count or over_pct

    async def child(index: int, value: Any, n_items: int) -> None:
        arn = existing.get(index)
        if arn is None:
            record = await engine.start_execution(
                child_machine,
                name=f"{run_id[:36]}-{index:07d}",
                input=dumps(value),
                map_run_arn=map_run_arn,
                parent_arn=run.arn,
            )
            arn = record.execution_arn
            counts.started(n_items)
        else:
            counts.resumed(n_items)
        done = await engine.wait_for(arn)
        counts.finished(done.status, n_items)
        if writer is not None:
            writer.add_execution(done)
        if done.status == "SUCCEEDED":
            if keep_outputs:
                outputs[index] = json.loads(done.output or "null")
        else:
            failure.append(StatesError(done.error or "", done.cause))
        engine.map_runs.save_counts(map_run_arn, counts)

    limit = asyncio.Semaphore(1)  # guards the concurrency recomputation
    index = 0
    try:
        for value in _batches(state, data, effective, _items(run, state, data, effective)):
            n_items = (
                len(value["Items"]) if state.get("ItemBatcher") and isinstance(value, dict) else 1
            )
            items_total += n_items
            counts.total(items_total)
            item = (
                value
                if state.get("ItemBatcher")
                else select_item(state, data, effective, index, value)
            )
            while len(in_flight) >= engine.map_runs.max_concurrency(map_run_arn):
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight -= done
                for t in done:
                    t.result()
            if exceeded():
                break
            async with limit:
                task = run.spawn(child(index, item, n_items))
                in_flight.add(task)
            index += 1
        while in_flight:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            in_flight -= done
            for t in done:
                t.result()
    finally:
        for t in in_flight:
            t.cancel()
    if exceeded():
        raise StatesError(
            EXCEED_TOLERATED_FAILURE_THRESHOLD,
            "The specified tolerated failure threshold was exceeded",
        )
    return [outputs.get(i) for i in range(index)] if keep_outputs else []
