"""The Map Run driver: starts, tracks and collects the child executions of one Map Run.

It keeps one status byte per item and O(1) state per running child, starts
children up to the live ``MaxConcurrency`` (read from the Map Run's control
for every child, so UpdateMapRun applies at once), hands each ended child's
result to the ResultWriter (or keeps the outputs), and stops the Map Run
when the tolerated failure thresholds are exceeded. Over an existing Map Run
it first reads the children it already has.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import StateData, dumps
from montemap.engine.distributed_inputs import ChildInputs, child_items, evaluate_fields
from montemap.engine.errors import EngineRefusal
from montemap.engine.express import ExpressResults, ExpressRun
from montemap.engine.map_fields import select_item
from montemap.engine.map_runs import MapRunControl, MapRunCounts
from montemap.engine.records import ExecutionRecord, StateMachineRef
from montemap.errors import EXCEED_TOLERATED_FAILURE_THRESHOLD, RUNTIME, StatesError

if TYPE_CHECKING:
    from montemap.engine.engine import Engine
    from montemap.engine.result_writer import ResultWriter
    from montemap.engine.run import ExecutionRun

__all__ = ["SAVE_INTERVAL", "MapRunDriver"]

#: Status byte of a child, by index: not started, running, ended (by status), to redrive.
_NEW, _RUNNING, _REDRIVE = 0, 1, 9
_ENDED = {"SUCCEEDED": 2, "FAILED": 3, "TIMED_OUT": 4, "ABORTED": 5}
_ENDED_NAME = {code: name for name, code in _ENDED.items()}
_FAILED_CODES = (3, 4, 5)
#: Seconds between saves of a running Map Run's counters.
SAVE_INTERVAL = 1.0
#: Rows read at a time when reading a Map Run's existing children.
_PAGE = 2000
#: What ``next`` gives once the children's inputs end.
_NO_MORE: Any = object()


def _ignore(_run: ExpressRun) -> None:
    """EXPRESS children signal their end through ``run.done``; nothing else to do."""


class _Entries(list[Any]):
    """What one child adds to the state's output under a Transformation (spliced in)."""


def _inline_transformation(state: Mapping[str, Any]) -> str:
    """The Transformation of the state's own output: a ResultWriter with only
    ``WriterConfig`` previews it (AWS: COMPACT without a ResultWriter)."""
    spec = state.get("ResultWriter")
    config = spec.get("WriterConfig") if isinstance(spec, Mapping) else None
    value = config.get("Transformation") if isinstance(config, Mapping) else None
    return value if value in ("NONE", "FLATTEN") else "COMPACT"


class MapRunDriver:
    """Starts, tracks and collects the children of one Map Run."""

    def __init__(
        self,
        run: ExecutionRun,
        state: Mapping[str, Any],
        data: StateData,
        effective: Any,
        child_machine: StateMachineRef,
        map_run_arn: str,
        writer: ResultWriter | None,
        redriving: bool,
    ) -> None:
        self.run = run
        self.engine: Engine = run.engine
        self.state = state
        self.data = data
        self.effective = effective
        self.machine = child_machine
        self.express = child_machine.type == "EXPRESS"
        self.map_run_arn = map_run_arn
        self.run_id = map_run_arn.rsplit(":", 1)[1]
        self.writer = writer
        self.redriving = redriving
        self.batched = state.get("ItemBatcher") is not None
        self.counts = MapRunCounts()
        self.control: MapRunControl = self.engine.map_runs.open(map_run_arn)
        self.engine.map_runs.track(map_run_arn, self.counts)
        self.outputs: dict[int, Any] | None = None if writer is not None else {}
        self.inline = _inline_transformation(state)
        self.statuses = bytearray()
        self.active = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.express_runs: dict[int, ExpressRun] = {}
        self.express_results = ExpressResults(self.engine)
        self.crash: StatesError | None = None
        self.stopping = False
        self.exhausted = False
        self.total_known = False  # the items are the input's: their total from the start
        self._saved = time.monotonic()

    # ------------------------------------------------------------------ main loop
    async def drive(self) -> list[Any]:
        await self._read_children()
        index = 0
        prepared = await evaluate_fields(self.state, self.data, self.effective)
        inputs = child_items(self.run, self.state, self.data, self.effective, prepared)
        values: Iterator[Any] | list[Any] = inputs
        counted = self.state.get("ItemReader") is None
        if counted:  # items in the input (under the payload limit): count them all now
            if not await self._select_ahead(inputs, everything=True):
                values = []
            values = list(values)
            for value in values:
                self.counts.seen(self._size(value))
            self.total_known = True
        remaining = iter(values)
        unstarted: list[Any] = []  # the item that was next when the map stopped
        ahead = inputs.selection is not None and not counted  # select each batch's items first
        try:
            while not ahead or await self._select_ahead(inputs):
                value = self._next_input(remaining)
                if value is _NO_MORE:
                    break
                n_items = self._size(value)
                if not counted:
                    self.counts.seen(n_items)
                code = self.statuses[index] if index < len(self.statuses) else _NEW
                if code in _ENDED_NAME:
                    self.counts.finished(_ENDED_NAME[code], n_items, was_running=False)
                    if self._exceeded(final=False):
                        break
                    if index % 100 == 99:
                        await asyncio.sleep(0)  # children that ended before: 100 a turn
                else:
                    await self._wait_for_slot()
                    if self.stopping:
                        unstarted.append(value)
                        break
                    if self.batched:  # its items went through the ItemSelector
                        item, text = value, inputs.text(value)
                    else:
                        try:
                            item = await select_item(
                                self.state, self.data, self.effective, index, value
                            )
                        except StatesError as exc:  # the ItemSelector failed on the item
                            self._crashed(exc)
                            break
                        text = dumps(item)
                    try:
                        await self._start(index, text, n_items, code, item)
                    except (StatesError, EngineRefusal) as exc:  # the child could not start
                        self._crashed(exc)
                        break
                    del item, value, text
                    # One child (and the items it took) per turn of the event loop: requests
                    # and the children already started are served while a large map starts.
                    await asyncio.sleep(0)
                index += 1
            self.exhausted = not self.stopping
            while self.active and not self.stopping:
                await self._wait_for_change()
            if self.stopping:
                await self._abort_running()
                if self.writer is not None and self.crash is None:
                    await self._write_pending(index, unstarted, inputs, remaining)
        finally:
            self.express_results.flush()
            self.engine.map_runs.save_counts(self.map_run_arn, self.counts)
        if self.crash is not None:
            raise self.crash
        if self._exceeded(final=True):
            raise StatesError(
                EXCEED_TOLERATED_FAILURE_THRESHOLD,
                "The specified tolerated failure threshold was exceeded",
            )
        return self._results(index)

    def _results(self, n_children: int) -> list[Any]:
        """The state's own result: each child's output (or entries) in item order."""
        if self.outputs is None:
            return []
        results: list[Any] = []
        for i in range(n_children):
            value = self.outputs.get(i)
            if isinstance(value, _Entries):
                results.extend(value)
            else:
                results.append(value)
        return results

    def _next_input(self, remaining: Iterator[Any]) -> Any:
        """The next child's input, or ``_NO_MORE`` at the end or when reading failed.

        A reader that fails partway (a bad row, an unreadable or deleted object, an item
        too big for a batch) fails the Map Run as AWS does: the running children are
        aborted and the state fails with the reader's error (``States.ItemReaderFailed``).
        """
        try:
            return next(remaining, _NO_MORE)
        except Exception as exc:
            self._crashed(exc)
            return _NO_MORE

    async def _select_ahead(self, inputs: ChildInputs, *, everything: bool = False) -> bool:
        """Select the items the next batch takes (see :meth:`ChildInputs.ready`); False when
        the ItemSelector failed, which fails the Map Run."""
        try:
            await inputs.ready(everything=everything)
        except StatesError as exc:
            self._crashed(exc)
            return False
        return True

    async def _write_pending(
        self, index: int, unstarted: list[Any], inputs: ChildInputs, remaining: Iterator[Any]
    ) -> None:
        """Items the failed Map Run never started go to the ResultWriter's PENDING files."""
        assert self.writer is not None
        values = itertools.chain(unstarted, remaining)
        offset = 0
        while len(unstarted) > offset or await self._select_ahead(inputs):
            try:
                value = next(values, _NO_MORE)
            except Exception:  # the reader failed on an item never started: the Map Run
                break  # keeps its first error; PENDING lists the items read before
            if value is _NO_MORE:
                break
            if self.batched:  # its items went through the ItemSelector
                text = inputs.text(value)
            else:
                try:
                    item = await select_item(
                        self.state, self.data, self.effective, index + offset, value
                    )
                except StatesError as exc:
                    self._crashed(exc)
                    break
                text = dumps(item)
            self.writer.add(
                "PENDING", {"Input": text, "InputDetails": {"Included": True}, "Status": "PENDING"}
            )
            offset += 1

    def _size(self, value: Any) -> int:
        """Items in one child's input (a batch or one item)."""
        return len(value["Items"]) if self.batched and isinstance(value, dict) else 1

    def _exceeded(self, *, final: bool) -> bool:
        """Whether the failures pass the thresholds; a percentage is decided once the
        total is known (input items: from the start; a reader's: once it is exhausted)."""
        known = self.total_known or (final and self.exhausted)
        return self.control.exceeded(
            self.counts.items_failed, self.counts.items["total"], final=known
        )

    async def _wait_for_change(self) -> None:
        self.control.changed.clear()
        await self.control.changed.wait()
        if not self.stopping and self._exceeded(final=False):
            self._stop()  # UpdateMapRun lowered a threshold below the failures so far

    async def _wait_for_slot(self) -> None:
        while self.active >= self.control.limit and not self.stopping:
            await self._wait_for_change()

    def _crashed(self, exc: Exception) -> None:
        """A failure that is not a child's fails the Map Run (the first one is kept)."""
        if self.crash is None:
            self.crash = (
                exc
                if isinstance(exc, StatesError)
                else StatesError(RUNTIME, f"The Map Run could not go on: {exc}")
            )
        self._stop()

    def _stop(self) -> None:
        self.stopping = True
        self.control.changed.set()

    # ------------------------------------------------------------------ existing children
    async def _read_children(self) -> None:
        """Status bytes of the children this Map Run already has; re-add ended ones' results."""
        after = 0
        while True:
            rows = self.engine.db.query(
                "SELECT * FROM executions WHERE map_run_arn = ? AND seq > ? ORDER BY seq LIMIT ?",
                (self.map_run_arn, after, _PAGE),
            )
            if not rows:
                break
            for row in rows:
                after = row["seq"]
                try:
                    index = int(row["name"].rsplit("-", 1)[1])
                except (IndexError, ValueError):
                    continue
                if index >= len(self.statuses):
                    self.statuses.extend(bytes(index + 1 - len(self.statuses)))
                code = _ENDED.get(row["status"], _RUNNING)
                if code in _FAILED_CODES and self.redriving:
                    code = _REDRIVE
                elif code in _ENDED_NAME:
                    self._collect(
                        index, self.engine._record(self.engine.store.texts.resolve(dict(row)))
                    )
                self.statuses[index] = code
            await asyncio.sleep(0)
        if self.express and self.statuses:
            # EXPRESS children that were running when the server stopped start again;
            # close the activity tasks they held so no worker runs them for nothing.
            prefix = self.engine.arns.express_execution(self.machine.name, self.run_id)
            with self.engine.db.transaction() as conn:
                conn.execute(
                    "UPDATE activity_tasks SET status = 'CLOSED' WHERE execution_arn >= ?"
                    " AND execution_arn < ? AND status IN ('SCHEDULED', 'STARTED')",
                    (prefix + "-", prefix + "."),
                )

    def _collect(self, index: int, record: ExecutionRecord) -> None:
        """One ended child: its result to the writer (or the outputs); a failure may stop the map."""
        if self.writer is not None:
            self.writer.add_execution(record)
        elif self.outputs is None:
            pass
        elif record.status == "SUCCEEDED" and self.inline == "COMPACT":
            self.outputs[index] = json.loads(record.output or "null")
        else:  # a failed child is returned whole (AWS: as with NONE)
            from montemap.engine.result_writer import execution_result, transform

            entries = transform(record.status, execution_result(record), self.inline)
            self.outputs[index] = _Entries(entries)

    # ------------------------------------------------------------------ children
    def _name(self, index: int) -> str:
        return f"{self.run_id}-{index:07d}"

    async def _start(self, index: int, item: str, n_items: int, code: int, value: Any) -> None:
        """Start (or pick up) one child here, then leave a light task waiting for its end.

        Starting in the driver's loop means no child input waits in memory for
        its turn: the loop moves on only once the child holds its own input.
        ``item`` is ``value``'s compact JSON text (the child's input).
        """
        self.active += 1
        target: str | ExpressRun
        try:
            if self.express:
                target = self._start_express(index, item, code)
            else:
                target = await self._start_standard(index, item, code, value)
        except BaseException:
            self.active -= 1
            raise
        self.counts.started(n_items)
        task = self.run.spawn(self._child(index, n_items, target))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _child(self, index: int, n_items: int, target: str | ExpressRun) -> None:
        try:
            if isinstance(target, ExpressRun):
                record = await self._express_child(index, target)
            else:
                record = await self.engine.wait_for(target, ours=True)
            self.counts.finished(record.status, n_items)
            self._collect(index, record)
            if record.status != "SUCCEEDED" and self._exceeded(final=False):
                self._stop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a writer or engine failure fails the Map Run
            self._crashed(exc)
        finally:
            self.active -= 1
            self.control.changed.set()
            now = time.monotonic()
            if now - self._saved >= SAVE_INTERVAL:
                self._saved = now
                self.engine.map_runs.save_counts(self.map_run_arn, self.counts)

    async def _start_standard(self, index: int, item: str, code: int, value: Any) -> str:
        arn = self.engine.arns.execution(self.machine.name, self._name(index))
        if code == _NEW:
            record = await self.engine.start_execution(
                self.machine,
                name=self._name(index),
                input=item,
                map_run_arn=self.map_run_arn,
                parent_arn=self.run.arn,
                compact_input=True,  # made in drive()
                input_value=value,
            )
            return record.execution_arn
        if code == _REDRIVE:
            self.engine.redrive_child(arn)
        return arn

    def _start_express(self, index: int, item: str, code: int) -> ExpressRun:
        name = self._name(index)
        row = {
            "arn": self.engine.arns.express_execution(self.machine.name, name),
            "state_machine_arn": self.machine.arn,
            "state_machine_name": self.machine.name,
            "name": name,
            "type": "EXPRESS",
            "definition": self.machine.definition,
            "role_arn": self.machine.role_arn,
            "revision_id": None,
            "status": "RUNNING",
            "input": item,
            "start_date": self.engine.clock.now().timestamp(),
            "map_run_arn": self.map_run_arn,
            "parent_arn": self.run.arn,
            "trace_header": None,
            "redrive_count": 1 if code == _REDRIVE else 0,
            "redrive_date": None,
        }
        child = ExpressRun(self.engine, row, _ignore)
        self.express_runs[index] = child
        value = json.loads(item)
        child.input_value = value  # parsed once: the context shares it (never mutated)
        child.start_new(value)
        return child

    async def _express_child(self, index: int, child: ExpressRun) -> ExecutionRecord:
        try:
            await child.done.wait()
        except asyncio.CancelledError:
            if self.run.done.is_set():  # the parent ended: recorded ABORTED, as STANDARD are
                child.finish("ABORTED")
                self.express_results.add(child)
                self.express_results.flush()
            raise
        finally:
            self.express_runs.pop(index, None)
            if not child.done.is_set() and child.main is not None:
                child.main.cancel()
        self.express_results.add(child)
        return child.record()

    # ------------------------------------------------------------------ ending
    async def _abort_running(self) -> None:
        """The Map Run failed: stop the children still running and count them aborted."""
        for child in list(self.express_runs.values()):
            child.finish("ABORTED")
            if child.main is not None:
                child.main.cancel()
        arns = [
            r["arn"]
            for r in self.engine.db.query(
                "SELECT arn FROM executions WHERE map_run_arn = ? AND status = 'RUNNING'",
                (self.map_run_arn,),
            )
        ]
        for arn in arns:
            await self.engine.stop_execution(arn, error=None, cause=None)
        while self.active:
            await self._wait_for_change()

    def cancelled(self) -> None:
        """The driver was cancelled.

        If the parent ended (stopped, timed out) the Map Run is aborted with its
        running children; if the engine is closing, STANDARD children are left
        to resume with the Map Run.
        """
        parent_ended = self.run.done.is_set()
        for task in list(self.tasks):
            task.cancel()
        for child in list(self.express_runs.values()):
            if child.main is not None:
                child.main.cancel()
        self.express_results.flush()
        if not parent_ended:
            self.engine.map_runs.save_counts(self.map_run_arn, self.counts)
            self.engine.map_runs.close(self.map_run_arn)
            return
        for row in self.engine.db.query(
            "SELECT arn FROM executions WHERE map_run_arn = ? AND status = 'RUNNING'",
            (self.map_run_arn,),
        ):
            child_run = self.engine.runs.get(row["arn"])
            if child_run is not None:
                child_run.finish("ABORTED")
                if child_run.main is not None:
                    child_run.main.cancel()
        self.counts.abort_running()
        self.engine.map_runs.finish(
            self.map_run_arn, "ABORTED", self.engine.clock.now(), self.counts
        )
