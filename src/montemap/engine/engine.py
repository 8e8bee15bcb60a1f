"""The engine facade: executions and activities, as the API layer sees them."""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from montemap.arns import Arn, ArnFactory, valid_name
from montemap.engine import redrive, single_state
from montemap.engine.activities import MAX_PAYLOAD, ActivityQueue
from montemap.engine.clock import Clock, SystemClock
from montemap.engine.db import Database
from montemap.engine.errors import (
    ActivityDoesNotExist,
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    InvalidArn,
    InvalidExecutionInput,
    InvalidName,
    InvalidToken,
    PayloadTooLarge,
)
from montemap.engine.history import Event, render
from montemap.engine.integrations import IntegrationRegistry
from montemap.engine.lambdas import FunctionRegistry, LambdaInvoke
from montemap.engine.map_children import find_state, item_count
from montemap.engine.map_runs import MapRunStore
from montemap.engine.records import ActivityRecord, ExecutionRecord, StateMachineRef
from montemap.engine.run import MAX_HISTORY_EVENTS, ExecutionRun
from montemap.engine.s3_integration import S3Integration
from montemap.engine.store import ExecutionStore, from_ts
from montemap.storage.base import ObjectStore

#: ``Arn.parse`` remembered for the ARNs clients send again and again (bounded).
parse_arn_cached = functools.lru_cache(maxsize=1024)(Arn.parse)

log = logging.getLogger(__name__)


def _token(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode()


def _untoken(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        if not isinstance(value, int):
            raise ValueError
        return value
    except (ValueError, KeyError, TypeError):
        raise InvalidToken(str(token))


class _Finished(asyncio.Event):
    """Set when an execution ends; ``record``: its end, when the engine had it at hand."""

    record: ExecutionRecord | None = None


class Engine:
    """Runs executions durably and serves activity tasks."""

    def __init__(
        self,
        db: Database,
        *,
        arns: ArnFactory,
        store: ObjectStore | None = None,
        clock: Clock | None = None,
        functions: FunctionRegistry | None = None,
        max_history_events: int = MAX_HISTORY_EVENTS,
    ) -> None:
        self.db = db
        #: AWS's quota on one execution's history; past it the execution fails.
        self.max_history_events = max_history_events
        self.arns = arns
        self.object_store = store
        self.clock: Clock = clock or SystemClock()
        self.store = ExecutionStore(db)
        self.store.on_write_failed = self._write_failed
        self.activities = ActivityQueue(db, arns, self.store.texts)
        self.map_runs = MapRunStore(db)
        self.integrations = IntegrationRegistry()
        self.functions = functions or FunctionRegistry()
        lambda_invoke = LambdaInvoke(self.functions)
        self.integrations.register("arn:aws:states:::lambda:invoke", lambda_invoke)
        self.integrations.register("arn:aws:lambda:", lambda_invoke)
        if store is not None:
            s3 = S3Integration(store)
            self.integrations.register("arn:aws:states:::s3:", s3)
            self.integrations.register("arn:aws:states:::aws-sdk:s3:", s3)
        self.runs: dict[str, ExecutionRun] = {}
        self._finished: dict[str, _Finished] = {}
        self.history_listeners: list[Callable[[str], None]] = []
        #: Counters for ``GET /metrics`` (state_retries, executions_started, ...).
        self.metrics: collections.Counter[str] = collections.Counter()
        #: Set while ``close`` cancels the runs: a ``.sync`` task leaves what it waits on.
        self.closing = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Resume every execution that was running when the engine last stopped."""
        for row in self.store.running_executions():
            run = ExecutionRun(self, row)
            self.runs[run.arn] = run
            frames = self.store.frames(run.arn)
            if "" not in frames:
                # Crashed between ExecutionStarted's commit and its frame: start over.
                run.start_new(json.loads(row["input"] or "{}"))
                continue
            run.resume({k: f for k, f in frames.items()})
            log.info("resumed execution %s", run.arn)

    async def close(self) -> None:
        self.closing = True
        mains = [r.main for r in self.runs.values() if r.main is not None]
        for run in list(self.runs.values()):
            for task in list(run.tasks):
                task.cancel()
            if run.main is not None:
                run.main.cancel()
        for main in mains:
            try:
                await main
            except BaseException:
                pass
        self.runs.clear()
        self.functions.close()

    # ------------------------------------------------------------------ hooks used by runs
    def _write_failed(self, execution_arn: str, cause: str) -> None:
        """A step of ``execution_arn`` was refused at commit: fail it (States.Runtime)."""
        run = self.runs.get(execution_arn)
        log.error("execution %s: a step could not be saved (%s)", execution_arn, cause)
        if run is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        text = ascii(cause)[1:-1]
        loop.call_soon(run.fail_unsaved, f"The execution's state could not be saved: {text}")

    def notify_history(self, execution_arn: str) -> None:
        for listener in self.history_listeners:
            listener(execution_arn)

    def execution_finished(self, run: ExecutionRun, fields: dict[str, Any] | None = None) -> None:
        """``run`` ended and its end is recorded; ``fields``: the end written to its row."""
        self.metrics["executions_finished"] += 1
        self.runs.pop(run.arn, None)
        event = self._finished.pop(run.arn, None)
        if event is None:
            return
        if fields is not None and not run.row.get("redrive_count"):
            # The waiters' record, from the row the run holds and the end it wrote (what
            # DescribeExecution now reads) instead of reading the row and its input back.
            event.record = self._record({**run.row, **fields})
        event.set()

    def _wake_waiters(self, execution_arn: str) -> None:
        """Wake ``wait_for`` callers; nothing is kept for executions nobody waits on."""
        event = self._finished.pop(execution_arn, None)
        if event is not None:
            event.set()

    def activities_closed_for(self, execution_arn: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE activity_tasks SET status = 'CLOSED' WHERE execution_arn = ? AND status IN"
                " ('SCHEDULED', 'STARTED')",
                (execution_arn,),
            )

    async def wait_for(
        self, execution_arn: str, timeout: float | None = None, *, ours: bool = False
    ) -> ExecutionRecord:
        """Wait until the execution is no longer RUNNING (``ours``: the ARN is one the
        engine made, such as a Map Run's child's: not parsed again)."""
        if not ours:
            self._check_arn(execution_arn, "execution")
        while True:  # hold nothing of the execution while waiting (a Map Run waits on 10,000)
            run = self.runs.get(execution_arn)
            if run is None or run.done.is_set():  # a run not yet ended is RUNNING: no read
                row = self.db.query_one(
                    "SELECT status FROM executions WHERE arn = ?", (execution_arn,)
                )
                if row is None or row["status"] != "RUNNING":
                    return self.describe_execution(execution_arn)
            event = self._finished.setdefault(execution_arn, _Finished())
            await asyncio.wait_for(event.wait(), timeout)
            if event.record is not None:
                return event.record

    # ------------------------------------------------------------------ activities
    def create_activity(self, name: str) -> ActivityRecord:
        return self.activities.create(name, self.clock.now())

    def describe_activity(self, arn: str) -> ActivityRecord:
        self._check_arn(arn, "activity")
        return self.activities.describe(arn)

    def delete_activity(self, arn: str) -> None:
        self._check_arn(arn, "activity")
        self.activities.delete(arn)

    def list_activities(self) -> list[ActivityRecord]:
        return self.activities.list()

    async def get_activity_task(
        self, activity_arn: str, worker_name: str | None, *, wait_seconds: float = 60.0
    ) -> tuple[str, str] | None:
        self._check_arn(activity_arn, "activity")
        if not self.activities.exists(activity_arn):
            raise ActivityDoesNotExist(activity_arn)
        deadline: float | None = None  # set once a poll has to wait (most do not)
        while True:
            if self.activities.polls_ended:  # the server is stopping: no task, no wait
                return None
            # The claim and its ActivityStarted event commit together (nothing awaits in
            # between, so a poll cancelled because its client left never holds a task).
            run: ExecutionRun | None = None
            with self.db.transaction():
                task = self.activities.claim(activity_arn, worker_name, self.clock.now())
                if task is not None:
                    run = self.runs.get(task.execution_arn)
                    frame = run.frames.get(task.frame_key) if run else None
                    if run is not None and frame is not None:
                        details = {"workerName": worker_name} if worker_name else {}
                        # The frame waits unchanged since it scheduled the task.
                        run.commit(frame, [Event("ActivityStarted", details)], checkpoint=False)
            if task is not None:
                ref = task.input_ref
                if ref is not None and run is not None and run.row.get("input_ref") == ref:
                    return task.token, run.row["input"]  # a Map child's input: not read back
                return task.token, self.activities.input_of(task)
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + wait_seconds
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self.activities.wait_for_task(activity_arn, remaining)

    async def send_task_success(self, token: str, output: str) -> None:
        self.activities.complete(token, status="SUCCEEDED", output=output)

    async def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        if cause is not None and len(cause.encode()) > MAX_PAYLOAD:
            raise PayloadTooLarge("cause", MAX_PAYLOAD)
        self.activities.complete(token, status="FAILED", error=error, cause=cause)

    async def send_task_heartbeat(self, token: str) -> None:
        self.activities.heartbeat(token, self.clock.now())

    # ------------------------------------------------------------------ executions
    def _check_arn(self, arn: str, kind: str) -> Arn:
        parsed = parse_arn_cached(arn) if isinstance(arn, str) else None
        if parsed is None or parsed.kind not in (kind, "express" if kind == "execution" else kind):
            raise InvalidArn(arn)
        return parsed

    async def start_execution(
        self,
        state_machine: StateMachineRef,
        *,
        name: str | None,
        input: str | None,
        trace_header: str | None = None,
        map_run_arn: str | None = None,
        parent_arn: str | None = None,
        compact_input: bool = False,
        input_value: Any = None,
        express_id: str | None = None,
        started_details: dict[str, str] | None = None,
    ) -> ExecutionRecord:
        """Start an execution of ``state_machine`` with the JSON text ``input``.

        ``compact_input``: the caller made ``input`` with the engine's own compact
        encoder (a Map Run's child), so it is also the text of the parsed value
        and the first checkpoints reuse it instead of encoding the value again.
        With it, ``input_value`` is that value (not parsed again; it must not be
        changed afterwards, as no state data is).

        ``express_id``: the id AWS appends to an EXPRESS execution's ARN
        (``express:<machine>:<name>:<id>``): its name may be used again.
        ``started_details``: more ExecutionStarted details (the version, the alias).
        """
        name = name if name is not None else str(uuid.uuid4())
        if not valid_name(name):
            raise InvalidName(name)
        text = input if input is not None else "{}"
        if len(text) * 4 > MAX_PAYLOAD and len(text.encode()) > MAX_PAYLOAD:
            raise InvalidExecutionInput("Execution input exceeds the maximum size of 262144 bytes")
        if compact_input and input_value is not None:
            value = input_value
        else:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidExecutionInput(f"Invalid execution input: {exc}")
        if state_machine.type == "EXPRESS":
            arn = self.arns.express_execution(state_machine.name, name)
            if express_id is not None:
                arn = f"{arn}:{express_id}"
        else:
            arn = self.arns.execution(state_machine.name, name)
        now = self.clock.now()
        row = {
            "arn": arn,
            "state_machine_arn": state_machine.arn,
            "state_machine_name": state_machine.name,
            "name": name,
            "type": state_machine.type,
            "definition": state_machine.definition,
            "role_arn": state_machine.role_arn,
            "revision_id": state_machine.revision_id,
            "status": "RUNNING",
            "input": text,
            "start_date": now.timestamp(),
            "map_run_arn": map_run_arn,
            "parent_arn": parent_arn,
            "trace_header": trace_header,
        }
        try:  # the row as a read would give it back, input text included (one object)
            stored = self.store.insert_execution(row)
        except sqlite3.IntegrityError:  # the name is taken (arn is UNIQUE)
            existing = self.store.get_execution(arn)
            if existing is None:
                raise
            if existing["status"] == "RUNNING" and existing["input"] == text:
                return self._record(existing)
            raise ExecutionAlreadyExists(arn) from None
        run = ExecutionRun(self, stored, new=True)
        self.runs[arn] = run
        self.metrics["executions_started"] += 1
        run.input_value = value  # parsed once: the context shares it (never mutated)
        run.start_new(value, input_text=text if compact_input else None, started=started_details)
        return self._record(stored)

    async def run_in_memory(
        self,
        *,
        definition: str,
        input_text: str,
        variables: dict[str, Any],
        role_arn: str,
        mock: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a definition without storing anything (TestState): its end."""
        return await single_state.run_in_memory(
            self,
            definition=definition,
            input_text=input_text,
            variables=variables,
            role_arn=role_arn,
            mock=mock,
        )

    def _row(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn, "execution")
        row = self.store.get_execution(arn)
        if row is None:
            raise ExecutionDoesNotExist(arn)
        return row

    def describe_execution(self, arn: str) -> ExecutionRecord:
        return self._record(self._row(arn))

    def describe_execution_definition(self, arn: str) -> StateMachineRef:
        row = self._row(arn)
        return StateMachineRef(
            arn=row["state_machine_arn"],
            name=row["state_machine_name"],
            definition=row["definition"],
            role_arn=row["role_arn"],
            type=row["type"],
            revision_id=row["revision_id"],
        )

    async def stop_execution(
        self, arn: str, *, error: str | None, cause: str | None
    ) -> ExecutionRecord:
        row = self._row(arn)
        if row["status"] == "RUNNING":
            run = self.runs.get(arn)
            if run is not None:
                run.finish("ABORTED", error=error, cause=cause)
                if run.main is not None:
                    run.main.cancel()
            else:
                fields = {
                    "status": "ABORTED",
                    "stop_date": self.clock.now().timestamp(),
                    "error": error,
                    "cause": cause,
                }
                self.store.update_execution(arn, **fields)
                self._wake_waiters(arn)
        return self.describe_execution(arn)

    def list_executions(
        self,
        *,
        state_machine_arn: str | None,
        map_run_arn: str | None,
        status: str | None,
        max_results: int,
        next_token: str | None,
        qualified_of: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        """A page of executions, newest first (``qualified_of``: see
        :func:`montemap.engine.store.list_executions_sql`)."""
        after = _untoken(next_token)
        limit = max_results if max_results and max_results > 0 else 100
        # An unknown Map Run is MapRunDoesNotExist (AWS: ResourceNotFound), not an empty page.
        map_run = self.map_runs.get(map_run_arn) if map_run_arn is not None else None
        rows = self.store.list_executions(
            state_machine_arn=state_machine_arn,
            map_run_arn=map_run_arn,
            status=status,
            after_seq=after,
            limit=limit + 1,
            qualified_of=qualified_of,
        )
        token = _token(rows[limit - 1]["seq"]) if len(rows) > limit else None
        records = [self._record(r) for r in rows[:limit]]
        if map_run is not None and records:
            batched = self._map_run_batched(map_run)
            records = [
                replace(r, extra={**r.extra, "itemCount": item_count(r.input, batched)})
                for r in records
            ]
        return records, token

    def _map_run_batched(self, run: dict[str, Any]) -> bool:
        """Whether the Map state that started the Map Run ``run`` has an ``ItemBatcher``."""
        parent = self.store.get_execution(run["execution_arn"])
        state = find_state(parent["definition"], run["state_name"]) if parent else None
        return state is not None and state.get("ItemBatcher") is not None

    def get_execution_history(
        self,
        arn: str,
        *,
        reverse: bool,
        max_results: int,
        next_token: str | None,
        include_data: bool,
    ) -> tuple[list[dict[str, Any]], str | None]:
        self._row(arn)
        after = _untoken(next_token)
        limit = max_results if max_results and max_results > 0 else 100
        rows = self.store.events(arn, reverse=reverse, after_id=after, limit=limit + 1)
        token = _token(rows[limit - 1]["id"]) if len(rows) > limit else None
        events = [
            render(
                r["id"],
                r["previous_id"],
                r["type"],
                datetime.fromtimestamp(r["timestamp"], UTC),
                json.loads(r["details"]) if r["details"] else None,
                include_data=include_data,
            )
            for r in rows[:limit]
        ]
        return events, token

    # ------------------------------------------------------------------ redrive and map runs
    def redrive_execution(self, arn: str) -> datetime:
        """RedriveExecution: continue a FAILED, TIMED_OUT or ABORTED execution; its redrive date."""
        row = self._row(arn)
        has_frames = "" in self.store.frames(arn)
        reason = redrive.not_redrivable(row, self.clock.now(), has_frames=has_frames)
        if reason is not None:
            raise ExecutionNotRedrivable(arn, reason)
        return redrive.redrive(self, row)

    def redrive_child(self, arn: str) -> None:
        """Redrive a Map Run's failed child (for the Map Run's own redrive)."""
        redrive.redrive(self, self._row(arn))

    def describe_map_run(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn, "mapRun")
        return self.map_runs.describe(arn)

    def list_map_runs(
        self, execution_arn: str, *, max_results: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self._row(execution_arn)
        after = _untoken(next_token)
        limit = max_results if max_results and max_results > 0 else 100
        rows = self.map_runs.list(execution_arn, after_seq=after, limit=limit + 1)
        token = _token(rows[limit - 1]["seq"]) if len(rows) > limit else None
        return [{k: v for k, v in r.items() if k != "seq"} for r in rows[:limit]], token

    def update_map_run(
        self,
        arn: str,
        *,
        max_concurrency: int | None,
        tolerated_failure_count: int | None,
        tolerated_failure_percentage: float | None,
    ) -> None:
        self._check_arn(arn, "mapRun")
        self.map_runs.update(
            arn,
            max_concurrency=max_concurrency,
            tolerated_failure_count=tolerated_failure_count,
            tolerated_failure_percentage=tolerated_failure_percentage,
        )

    def _record(self, row: dict[str, Any]) -> ExecutionRecord:
        start = from_ts(row["start_date"])
        assert start is not None
        status, reason = redrive.redrive_status(row, self.clock.now())
        return ExecutionRecord(
            execution_arn=row["arn"],
            state_machine_arn=row["state_machine_arn"],
            name=row["name"],
            status=row["status"],
            start_date=start,
            stop_date=from_ts(row["stop_date"]),
            input=row["input"],
            output=row["output"],
            error=row["error"],
            cause=row["cause"],
            map_run_arn=row["map_run_arn"],
            redrive_count=row["redrive_count"],
            redrive_date=from_ts(row["redrive_date"]),
            redrive_status=status,
            redrive_status_reason=reason,
            trace_header=row["trace_header"],
        )
