"""The Task state: timeouts, heartbeats, and dispatch to a resource.

Resources: an activity ARN goes to the durable activity queue; other resources
(``arn:aws:states:::lambda:invoke``, ``aws-sdk:*``, ``s3:*``...) go to the
integrations registered on the engine (:mod:`montemap.engine.integrations`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from montemap.asl.jsonpath import PathError
from montemap.engine.activities import new_token
from montemap.engine.dataflow import StateData, dumps
from montemap.engine.history import Event, payload_details
from montemap.engine.run import Outcome
from montemap.engine.store import FrameRow
from montemap.errors import (
    QUERY_EVALUATION_ERROR,
    RUNTIME,
    TIMEOUT,
    EvaluationError,
    StatesError,
)

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun

#: AWS's default TimeoutSeconds for a Task with none (effectively unlimited).
DEFAULT_TIMEOUT = 99999999


@dataclass
class TaskCall:
    """What an integration receives: the resolved call and where it came from."""

    resource: str
    arguments: Any
    state_name: str
    execution_arn: str
    frame_key: str
    timeout_seconds: float
    heartbeat_seconds: float | None
    context: dict[str, Any]
    task_token: str | None = None


def _seconds(data: StateData, state: Mapping[str, Any], key: str, effective: Any) -> float | None:
    if key in state:
        value = state[key]
        if data.jsonata:
            value = data.eval_jsonata(value, key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be a positive integer, but was: {value}",
            )
        return float(value)
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        try:
            value = data.intrinsic_or_path(path, effective)
        except PathError:
            raise EvaluationError(RUNTIME, f"The {path_key} parameter does not reference an input value: {path}")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise EvaluationError(
                RUNTIME, f"The {path_key} parameter references an invalid value: {path} == {value}"
            )
        return float(value)
    return None


async def run_task(run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData) -> Outcome:
    effective = data.effective_input(state)
    resource = state["Resource"]
    if data.jsonata and isinstance(resource, str) and resource.startswith("{%"):
        resource = data.eval_jsonata(resource, "Resource")
    timeout = _seconds(data, state, "TimeoutSeconds", effective) or DEFAULT_TIMEOUT
    heartbeat = _seconds(data, state, "HeartbeatSeconds", effective)
    arguments = data.arguments(state, effective)
    if ":activity:" in resource:
        result = await _activity(run, frame, name, resource, arguments, timeout, heartbeat)
    else:
        result = await run.engine.integrations.invoke(
            run,
            frame,
            TaskCall(
                resource=resource,
                arguments=arguments,
                state_name=name,
                execution_arn=run.arn,
                frame_key=frame.key,
                timeout_seconds=timeout,
                heartbeat_seconds=heartbeat,
                context=data.context,
            ),
        )
    result = data.select_result(state, result)
    data.assign(state.get("Assign"), result)
    return Outcome(data.output(state, result), None if state.get("End") else state.get("Next"))


async def _activity(
    run: ExecutionRun,
    frame: FrameRow,
    name: str,
    arn: str,
    arguments: Any,
    timeout: float,
    heartbeat: float | None,
) -> Any:
    queue = run.engine.activities
    token = frame.phase.get("task_token")
    if token is None:
        if not queue.exists(arn):
            raise EvaluationError(RUNTIME, f"The activity {arn} does not exist.")
        token = new_token()
        details: dict[str, Any] = {"resource": arn, **payload_details("input", dumps(arguments))}
        if timeout != DEFAULT_TIMEOUT:
            details["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            details["heartbeatInSeconds"] = int(heartbeat)
        frame.phase["task_token"] = token
        with run.engine.db.transaction() as conn:
            queue.schedule_sql(
                conn,
                token=token,
                activity_arn=arn,
                execution_arn=run.arn,
                frame_key=frame.key,
                input=dumps(arguments),
                now=run.engine.clock.now(),
                timeout_seconds=timeout,
                heartbeat_seconds=heartbeat,
            )
            run.commit(frame, [Event("ActivityScheduled", details)])
        queue.notify(arn)
    try:
        return await _await_activity(run, frame, token)
    finally:
        queue.forget(token)


async def _await_activity(run: ExecutionRun, frame: FrameRow, token: str) -> Any:
    queue = run.engine.activities
    clock = run.engine.clock
    wake = queue.result_event(token)
    while True:
        task = queue.get(token)
        if task is None:  # the execution was deleted under us
            raise StatesError(RUNTIME, "The activity task disappeared.")
        if task.status == "SUCCEEDED":
            run.commit(frame, [Event("ActivitySucceeded", payload_details("output", task.output or "null"))])
            return json.loads(task.output or "null")
        if task.status == "FAILED":
            details = {}
            if task.error is not None:
                details["error"] = task.error
            if task.cause is not None:
                details["cause"] = task.cause
            run.commit(frame, [Event("ActivityFailed", details)])
            raise StatesError(task.error or "", task.cause)
        deadline = datetime.fromtimestamp(task.scheduled_at, clock.now().tzinfo) + timedelta(
            seconds=task.timeout_seconds or DEFAULT_TIMEOUT
        )
        beat_lapse = None
        if task.status == "STARTED" and task.heartbeat_seconds and task.last_heartbeat is not None:
            beat_lapse = datetime.fromtimestamp(task.last_heartbeat, clock.now().tzinfo) + timedelta(
                seconds=task.heartbeat_seconds
            )
        limit = min(deadline, beat_lapse) if beat_lapse else deadline
        if clock.now() >= limit:
            queue.close(token)
            heartbeat_lapsed = beat_lapse is not None and beat_lapse <= deadline
            run.commit(frame, [Event("ActivityTimedOut", {"error": TIMEOUT})])
            err = StatesError(TIMEOUT, None)
            if heartbeat_lapsed:
                err.also_matches = frozenset({"States.HeartbeatTimeout"})  # type: ignore[attr-defined]
            raise err
        wake.clear()
        sleeper = asyncio.ensure_future(clock.sleep_until(limit))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
