"""Distributed Map: a Map Run whose iterations are child executions.

Items come from the state input (ItemsPath/Items) or stream from an
ItemReader; an ItemBatcher groups them; each item or batch becomes one child
execution of the ItemProcessor, named ``<map run id>-<index>``, so a
restarted or redriven Map Run finds the children it already has.

The driver keeps O(1) state per item (one status byte) and O(1) per running
child; results go to the ResultWriter as children end. MaxConcurrency and the
tolerated failure thresholds are read from the Map Run's live control for
every child, so UpdateMapRun applies at once. STANDARD children are durable
executions with their own history; EXPRESS children run in memory
(:mod:`montemap.engine.express`) and only their results are stored.

Starting again over an existing Map Run (after a restart, or a redrive of a
FAILED one) first reads its children's rows: finished children are counted
and their results handed to the writer again; running STANDARD children are
waited for; failed ones are redriven (only when redriving); the rest start.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData, dumps
from montemap.engine.distributed_inputs import result_writer
from montemap.engine.history import Event
from montemap.engine.map_driver import MapRunDriver
from montemap.engine.map_fields import int_field, tolerances
from montemap.engine.map_runs import REDRIVABLE, MapRunCounts
from montemap.engine.records import StateMachineRef
from montemap.engine.run import Outcome
from montemap.engine.store import FrameRow
from montemap.errors import StatesError

if TYPE_CHECKING:
    from montemap.engine.result_writer import ResultWriter
    from montemap.engine.run import ExecutionRun

__all__ = ["run_distributed_map"]


def _next(state: Mapping[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


def _child_definition(run: ExecutionRun, frame: FrameRow, state: Mapping[str, Any]) -> str:
    processor = dict(state.get("ItemProcessor") or state.get("Iterator") or {})
    processor.pop("ProcessorConfig", None)
    machine = run.machine(frame.machine)
    language = state.get("QueryLanguage") or machine.get("QueryLanguage") or run.query_language
    if "QueryLanguage" not in processor and language != "JSONPath":
        processor["QueryLanguage"] = language
    return dumps(processor)


def _child_machine(
    run: ExecutionRun, frame: FrameRow, state: Mapping[str, Any], label: str
) -> StateMachineRef:
    """The state machine of the children: the ItemProcessor, named after the Map's label."""
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    return StateMachineRef(
        arn=f"{run.row['state_machine_arn']}/{label}",
        name=f"{run.row['state_machine_name']}/{label}",
        definition=_child_definition(run, frame, state),
        role_arn=run.row.get("role_arn") or "",
        type=processor.get("ProcessorConfig", {}).get("ExecutionType", "STANDARD"),
    )


async def _open_map_run(
    run: ExecutionRun,
    frame: FrameRow,
    name: str,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    label: str,
    child_machine: StateMachineRef,
) -> tuple[str, bool, bool]:
    """The Map Run's ARN, created here the first time; whether it is redriven; whether
    it had already succeeded (a restart after its end)."""
    engine = run.engine
    map_run_arn: str | None = frame.phase.get("task_map_run")
    if map_run_arn is not None:
        status = engine.map_runs.get(map_run_arn)["status"]
        if status in REDRIVABLE:
            redrives = engine.map_runs.redrive(map_run_arn, engine.clock.now())
            run.commit(
                frame,
                [Event("MapRunRedriven", {"mapRunArn": map_run_arn, "redriveCount": redrives})],
            )
        return map_run_arn, status in REDRIVABLE, status == "SUCCEEDED"
    max_concurrency = await int_field(run, state, data, effective, "MaxConcurrency", 0)
    run.commit(frame, [Event("MapStateStarted", {"length": 0})])
    count, percentage = await tolerances(state, data, effective)
    map_run_arn = engine.arns.map_run(run.row["state_machine_name"], label, str(uuid.uuid4()))
    engine.map_runs.create(
        map_run_arn,
        execution_arn=run.arn,
        state_machine_arn=child_machine.arn,
        state_name=name,
        max_concurrency=max_concurrency,
        tolerated_failure_count=count,
        tolerated_failure_percentage=percentage,
        now=engine.clock.now(),
    )
    frame.phase["task_map_run"] = map_run_arn
    run.commit(frame, [Event("MapRunStarted", {"mapRunArn": map_run_arn})])
    return map_run_arn, False, False


async def run_distributed_map(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    engine = run.engine
    effective = data.effective_input(state)
    label = state.get("Label") or name
    child_machine = _child_machine(run, frame, state, label)
    map_run_arn, redriving, already_succeeded = await _open_map_run(
        run, frame, name, state, data, effective, label, child_machine
    )
    writer: ResultWriter | None = None
    driver: MapRunDriver | None = None
    try:
        writer = await result_writer(run, state, data, effective, map_run_arn)
        driver = MapRunDriver(
            run, state, data, effective, child_machine, map_run_arn, writer, redriving
        )
        outputs = await driver.drive()
    except StatesError as err:
        counts = driver.counts if driver is not None else MapRunCounts()
        engine.map_runs.finish(map_run_arn, "FAILED", engine.clock.now(), counts)
        if writer is not None:
            try:  # AWS exports the results of a failed Map Run too
                await asyncio.to_thread(writer.close)
            except StatesError:
                writer.abort()
        run.commit(frame, [Event("MapRunFailed", {"error": err.error, "cause": err.cause or ""})])
        raise
    except asyncio.CancelledError:
        if driver is not None:
            driver.cancelled()
        if writer is not None:
            writer.abort()
        raise
    assert driver is not None
    engine.map_runs.finish(map_run_arn, "SUCCEEDED", engine.clock.now(), driver.counts)
    if not already_succeeded:
        run.commit(frame, [Event("MapRunSucceeded")])
    run.commit(frame, [Event("MapStateSucceeded")])
    result: Any = await asyncio.to_thread(writer.close) if writer is not None else outputs
    result = data.select_result(state, result)
    await data.assign(state.get("Assign"), result)
    return Outcome(await data.output(state, result), _next(state))
