"""Parallel and inline Map: child frames run concurrently inside the execution.

Each branch or iteration is a child frame with its own checkpoint, created in
the same transaction as the event that starts it. A resumed parent collects
the outputs of finished children and runs the rest again from their own
checkpoints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData
from montemap.engine.history import Event
from montemap.engine.map_fields import int_field, map_items, select_item, tolerances
from montemap.engine.phase import Phase
from montemap.engine.retry import failed_frame_error
from montemap.engine.run import FrameFailed, Outcome
from montemap.engine.store import FrameRow
from montemap.errors import StatesError

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
    phase: Phase | None = None,
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
            raise failed_frame_error(child.error, child.cause, child.phase)
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


async def run_map(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
    if mode == "DISTRIBUTED":
        from montemap.engine.distributed import run_distributed_map

        return await run_distributed_map(run, frame, name, state, data)
    effective = data.effective_input(state)
    max_concurrency = await int_field(run, state, data, effective, "MaxConcurrency", 0)
    items = await map_items(state, data, effective)
    started = frame.phase.get("task_started")
    if not started:
        frame.phase["task_started"] = True
        run.commit(frame, [Event("MapStateStarted", {"length": len(items)})])
    # Evaluated (an invalid value fails the state) but not applied: in INLINE mode AWS
    # fails the Map at its first failed iteration; tolerated failures are a Map Run's.
    await tolerances(state, data, effective)
    key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    machine = f"{frame.machine}/States/{name}/{key}"
    base = f"{frame.key}/{name}.{frame.phase.get('attempt', 0)}"
    iterations = _Iterations(run, frame, name, state, data, effective, items, machine, base)
    outputs = await iterations.run_all(max_concurrency)
    run.commit(frame, [Event("MapStateSucceeded")])
    result = data.select_result(state, outputs)
    await data.assign(state.get("Assign"), result)
    return Outcome(await data.output(state, result), _next(state))


@dataclass
class _Iterations:
    """The iterations of one inline Map, run by a pool of ``MaxConcurrency`` runners."""

    run: ExecutionRun
    frame: FrameRow
    name: str
    state: Mapping[str, Any]
    data: StateData
    effective: Any
    items: Sequence[Any]
    machine: str
    base: str
    outputs: list[Any] = field(init=False)
    failures: list[StatesError] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.outputs = [None] * len(self.items)

    async def run_all(self, max_concurrency: int) -> list[Any]:
        """Run every iteration; the outputs in item order, or the Map's failure."""
        # A pool of MaxConcurrency runners, each taking the next index as it finishes one:
        # no task, semaphore wait or callbacks per iteration. Indexes go out in order.
        total = len(self.items)
        indexes = iter(range(total))
        runners_left = min(max_concurrency, total) if max_concurrency > 0 else total
        idle = asyncio.Event()
        if runners_left == 0:
            idle.set()

        async def runner() -> None:
            nonlocal runners_left
            try:
                for index in indexes:  # shared: each index goes to one runner
                    if self.stop.is_set():
                        return
                    await self.iteration(index)
            except Exception as exc:  # a bug: fail the Map rather than lose the item
                self.crashes.append(exc)
                self.stop.set()
            finally:
                runners_left -= 1
                if runners_left == 0:
                    idle.set()

        runners = [self.run.spawn(runner()) for _ in range(runners_left)]
        try:
            stopper = asyncio.ensure_future(self.stop.wait())
            waiter = asyncio.ensure_future(idle.wait())
            try:
                await asyncio.wait({stopper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                waiter.cancel()
        finally:
            for t in runners:
                t.cancel()
        return self._result()

    def _result(self) -> list[Any]:
        if self.crashes:
            raise self.crashes[0]
        if self.failures:
            raise self.failures[0]
        return self.outputs

    async def iteration(self, index: int) -> None:
        """Run (or pick up) iteration ``index``, recording its output or failure."""
        run, name = self.run, self.name
        try:
            child = await self._child_frame(index)
            if child.status == "SUCCEEDED":
                self.outputs[index] = child.output
                return
            if child.status == "FAILED":
                self.failures.append(failed_frame_error(child.error, child.cause, child.phase))
            else:
                succeeded = Event("MapIterationSucceeded", {"name": name, "index": index})
                try:
                    self.outputs[index] = await run.run_frame(child, end_events=(succeeded,))
                except FrameFailed as failed:
                    self.failures.append(failed.err)
                    run.commit(child, [Event("MapIterationFailed", {"name": name, "index": index})])
                else:
                    return
            self.stop.set()  # a failed iteration fails the Map: start no more
        except StatesError as err:  # an ItemSelector that fails fails the Map
            self.crashes.append(err)
            self.stop.set()

    async def _child_frame(self, index: int) -> FrameRow:
        """The iteration's frame: the existing one, or a new one with its started event."""
        run, key = self.run, f"{self.base}/{index}"
        child = run.frames.get(key)
        if child is not None:
            return child
        value = await select_item(self.state, self.data, self.effective, index, self.items[index])
        child = _child(run, self.frame, key, self.machine, value)
        started = Event("MapIterationStarted", {"name": self.name, "index": index})
        if child.state is not None and "entered" not in child.phase:
            # Goes out with the first state's Entered event and checkpoint, which
            # run_frame commits in this same turn: one commit instead of two.
            run.pending.setdefault(key, []).append(started)
        else:
            run.commit(child, [started], frames=[child])
        return child


def loads(text: str) -> Any:
    return json.loads(text)
