"""Parallel and inline Map: child frames run concurrently inside the execution.

Each branch or iteration is a child frame with its own checkpoint, created in
the same transaction as the event that starts it. A resumed parent collects
the outputs of finished children and runs the rest again from their own
checkpoints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData, dumps
from montemap.engine.history import Event
from montemap.engine.run import FrameFailed, Outcome
from montemap.engine.store import FrameRow
from montemap.errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    QUERY_EVALUATION_ERROR,
    RUNTIME,
    EvaluationError,
    StatesError,
)
from montemap.jsontypes import json_type_name

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun


def _next(state: Mapping[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


def _child(
    run: ExecutionRun,
    parent: FrameRow,
    key: str,
    machine: str,
    value: Any,
    phase: dict[str, Any] | None = None,
) -> FrameRow:
    sub = run.machine(machine)
    child = FrameRow(
        key=key,
        parent_key=parent.key,
        machine=machine,
        state=sub["StartAt"],
        input=value,
        variables=dict(parent.variables),
        phase=phase or {},
    )
    run.frames[key] = child
    run.prev_event[key] = run.prev_event.get(parent.key, run.last_event_id)
    return child


# --------------------------------------------------------------------------- Parallel


async def run_parallel(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    effective = data.effective_input(state)
    branch_input = await data.arguments(state, effective)
    keys: list[str] | None = frame.phase.get("task_children")
    if keys is None:
        attempt = frame.phase.get("attempt", 0)
        base = f"{frame.key}/{name}.{attempt}"
        children = [
            _child(
                run,
                frame,
                f"{base}/{i}",
                f"{frame.machine}/States/{name}/Branches/{i}",
                branch_input,
            )
            for i in range(len(state["Branches"]))
        ]
        keys = [c.key for c in children]
        frame.phase["task_children"] = keys
        run.commit(frame, [Event("ParallelStateStarted")], frames=[frame, *children])
        for c in children:
            run.prev_event[c.key] = run.last_event_id
    outputs = await _gather(run, keys)
    run.commit(frame, [Event("ParallelStateSucceeded")])
    result = data.select_result(state, outputs)
    await data.assign(state.get("Assign"), result)
    return Outcome(await data.output(state, result), _next(state))


async def _gather(run: ExecutionRun, keys: list[str]) -> list[Any]:
    """Run every unfinished child; the first failure cancels the others."""
    results: dict[str, Any] = {}
    pending: list[asyncio.Task[Any]] = []
    for key in keys:
        child = run.frames[key]
        if child.status == "SUCCEEDED":
            results[key] = child.output
        elif child.status == "FAILED":
            raise StatesError(child.error or "", child.cause)
        else:
            pending.append(run.spawn(_collect(run, child, results)))
    try:
        await asyncio.gather(*pending)
    except FrameFailed as failed:
        raise failed.err from None
    finally:
        for task in pending:
            task.cancel()
    return [results[k] for k in keys]


async def _collect(run: ExecutionRun, child: FrameRow, results: dict[str, Any]) -> None:
    results[child.key] = await run.run_frame(child)


# --------------------------------------------------------------------------- Map


async def _int_field(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    key: str,
    default: int,
) -> int:
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be an integer, but was: {dumps(value)}",
            )
        return value
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        value = data.path(path, effective, path_key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {path_key} field refers to value "{shown}" which is not a valid integer: {path}',
            )
        return int(value)
    return default


async def _float_field(
    state: Mapping[str, Any], data: StateData, effective: Any, key: str
) -> float | None:
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be a number, but was: {dumps(value)}",
            )
        return float(value)
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        value = _numeric_string(data.path(path, effective, path_key), float)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {path_key} field refers to value "{shown}" which is not a valid float: {path}',
            )
        return float(value)
    return None


def _numeric_string(value: Any, kind: type) -> Any:
    """Path values may be numbers written as strings ("1"), as AWS accepts."""
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    return value


async def map_items(state: Mapping[str, Any], data: StateData, effective: Any) -> list[Any]:
    """The array a Map iterates over (ItemsPath / Items / the input)."""
    if data.jsonata:
        if "Items" in state:
            expr = state["Items"]
            items = await data.eval_jsonata(expr, "Items")
            if not isinstance(items, list):
                raise EvaluationError(
                    QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{_strip(expr)}' specified for the field 'Items' returned "
                    f"an unexpected result type. Expected 'array', but was '{_json_type(items)}' for "
                    f"value: {dumps(items)}",
                )
            return items
        items = data.raw_input
        if not isinstance(items, list):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR, f"Map state input must be an array but was: {dumps(items)}"
            )
        return items
    items = data.path(state.get("ItemsPath", "$"), effective, "ItemsPath")
    if not isinstance(items, list):
        raise EvaluationError(RUNTIME, f"Map state input must be an array but was: {dumps(items)}")
    return items


def _strip(expr: Any) -> str:
    text = str(expr)
    if text.startswith("{%") and text.endswith("%}"):
        text = text[2:-2].strip()
    return text


_json_type = json_type_name


async def tolerances(
    state: Mapping[str, Any], data: StateData, effective: Any
) -> tuple[int | None, float | None]:
    count: int | None = None
    if "ToleratedFailureCount" in state or "ToleratedFailureCountPath" in state:
        count = await _tolerated_count(state, data, effective)
    percentage = await _float_field(state, data, effective, "ToleratedFailurePercentage")
    if percentage is not None and not 0 <= percentage <= 100:
        raise EvaluationError(RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
    return count, percentage


async def _tolerated_count(state: Mapping[str, Any], data: StateData, effective: Any) -> int:
    key = "ToleratedFailureCount"
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
    else:
        path = state[f"{key}Path"]
        value = _numeric_string(data.path(path, effective, f"{key}Path"), int)
        if isinstance(value, bool) or not isinstance(value, int):
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {key}Path field refers to value "{shown}" which is not a valid integer: {path}',
            )
    if not isinstance(value, int) or isinstance(value, bool):
        raise EvaluationError(RUNTIME, f"{key} must be an integer.")
    if value < 0:
        raise EvaluationError(RUNTIME, "ToleratedFailureCount cannot be negative.")
    return value


def item_selector(state: Mapping[str, Any]) -> Any:
    if "ItemSelector" in state:
        return state["ItemSelector"]
    return state.get("Parameters")


async def select_item(
    state: Mapping[str, Any], data: StateData, effective: Any, index: int, value: Any
) -> Any:
    selector = item_selector(state)
    if selector is None:
        return value
    item = {"Index": index, "Value": value}
    if data.jsonata:
        saved = data.context
        data.context = {**saved, "Map": {"Item": item}}
        try:
            return await data.eval_jsonata(selector, "ItemSelector")
        finally:
            data.context = saved
    ctx = {**data.context, "Map": {"Item": item}}
    return StateData(
        language=data.language,
        raw_input=data.raw_input,
        context=ctx,
        variables=data.variables,
        state_name=data.state_name,
    ).payload(selector, effective)


async def run_map(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
    if mode == "DISTRIBUTED":
        from montemap.engine.distributed import run_distributed_map

        return await run_distributed_map(run, frame, name, state, data)
    effective = data.effective_input(state)
    max_concurrency = await _int_field(run, state, data, effective, "MaxConcurrency", 0)
    items = await map_items(state, data, effective)
    started = frame.phase.get("task_started")
    if not started:
        frame.phase["task_started"] = True
        run.commit(frame, [Event("MapStateStarted", {"length": len(items)})])
    count, percentage = await tolerances(state, data, effective)
    key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    machine = f"{frame.machine}/States/{name}/{key}"
    base = f"{frame.key}/{name}.{frame.phase.get('attempt', 0)}"
    outputs = await _run_iterations(
        run,
        frame,
        name,
        state,
        data,
        effective,
        items,
        machine,
        base,
        max_concurrency,
        count,
        percentage,
    )
    run.commit(frame, [Event("MapStateSucceeded")])
    result = data.select_result(state, outputs)
    await data.assign(state.get("Assign"), result)
    return Outcome(await data.output(state, result), _next(state))


async def _run_iterations(
    run: ExecutionRun,
    frame: FrameRow,
    name: str,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    items: list[Any],
    machine: str,
    base: str,
    max_concurrency: int,
    tolerated_count: int | None,
    tolerated_percentage: float | None,
) -> list[Any]:
    total = len(items)
    outputs: list[Any] = [None] * total
    failures: list[StatesError] = []
    stop = asyncio.Event()

    def exceeded() -> bool:
        if tolerated_count is None and tolerated_percentage is None:
            return bool(failures)
        over_count = tolerated_count is not None and len(failures) > tolerated_count
        over_pct = (
            tolerated_percentage is not None
            and total > 0
            and len(failures) * 100.0 / total > tolerated_percentage
        )
        return over_count or over_pct

    crashes: list[BaseException] = []

    async def iteration(index: int) -> None:
        key = f"{base}/{index}"
        try:
            child = run.frames.get(key)
            if child is None:
                value = await select_item(state, data, effective, index, items[index])
                child = _child(run, frame, key, machine, value)
                started = Event("MapIterationStarted", {"name": name, "index": index})
                if child.state is not None and "entered" not in child.phase:
                    # Goes out with the first state's Entered event and checkpoint, which
                    # run_frame commits in this same turn: one commit instead of two.
                    run.pending.setdefault(key, []).append(started)
                else:
                    run.commit(child, [started], frames=[child])
            if child.status == "SUCCEEDED":
                outputs[index] = child.output
                return
            if child.status == "FAILED":
                failures.append(StatesError(child.error or "", child.cause))
            else:
                succeeded = Event("MapIterationSucceeded", {"name": name, "index": index})
                try:
                    outputs[index] = await run.run_frame(child, end_events=(succeeded,))
                except FrameFailed as failed:
                    failures.append(failed.err)
                    run.commit(child, [Event("MapIterationFailed", {"name": name, "index": index})])
                else:
                    return
            if exceeded():
                stop.set()
        except StatesError as err:  # an ItemSelector that fails fails the Map
            crashes.append(err)
            stop.set()

    # A pool of MaxConcurrency runners, each taking the next index as it finishes one:
    # no task, semaphore wait or callbacks per iteration. Indexes go out in order.
    indexes = iter(range(total))
    runners_left = min(max_concurrency, total) if max_concurrency > 0 else total
    idle = asyncio.Event()
    if runners_left == 0:
        idle.set()

    async def runner() -> None:
        nonlocal runners_left
        try:
            for index in indexes:  # shared: each index goes to one runner
                if stop.is_set():
                    return
                await iteration(index)
        except Exception as exc:  # a bug: fail the Map rather than lose the item
            crashes.append(exc)
            stop.set()
        finally:
            runners_left -= 1
            if runners_left == 0:
                idle.set()

    runners = [run.spawn(runner()) for _ in range(runners_left)]
    try:
        stopper = asyncio.ensure_future(stop.wait())
        waiter = asyncio.ensure_future(idle.wait())
        try:
            await asyncio.wait({stopper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            waiter.cancel()
    finally:
        for t in runners:
            t.cancel()
    if crashes:
        raise crashes[0]
    if exceeded():
        if tolerated_count is None and tolerated_percentage is None:
            raise failures[0]
        raise StatesError(
            EXCEED_TOLERATED_FAILURE_THRESHOLD,
            "The specified tolerated failure threshold was exceeded",
        )
    return outputs


def loads(text: str) -> Any:
    return json.loads(text)
