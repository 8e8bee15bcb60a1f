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

from montemap.asl.jsonpath_syntax import PathError
from montemap.engine.activities import TaskRow, new_token
from montemap.engine.dataflow import StateData, dumps
from montemap.engine.history import Event, payload_details
from montemap.engine.run import Outcome
from montemap.engine.store import FrameRow
from montemap.errors import (
    HEARTBEAT_TIMEOUT,
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


#: AWS's bound on a Task's TimeoutSeconds and HeartbeatSeconds (and their paths).
MAX_TASK_SECONDS = 99_999_999


def _whole_seconds(value: Any) -> bool:
    """A whole number of seconds from 1 to :data:`MAX_TASK_SECONDS`, from a JSONata
    expression or a path alike: ``2.0`` is one (AWS asks both for "a positive integer",
    and JSON has one number type); ``1.5`` and ``true`` are not."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 < value <= MAX_TASK_SECONDS
        and int(value) == value
    )


async def _seconds(
    data: StateData, state: Mapping[str, Any], key: str, effective: Any
) -> float | None:
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
        if not _whole_seconds(value):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be a positive integer up to {MAX_TASK_SECONDS}, "
                f"but was: {value}",
            )
        return float(value)
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        try:
            value = data.intrinsic_or_path(path, effective)
        except PathError:
            raise EvaluationError(
                RUNTIME, f"The {path_key} parameter does not reference an input value: {path}"
            )
        if not _whole_seconds(value):
            raise EvaluationError(
                RUNTIME, f"The {path_key} parameter references an invalid value: {path} == {value}"
            )
        return float(value)
    return None


async def run_task(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    effective = data.effective_input(state)
    resource = state["Resource"]
    if data.jsonata and isinstance(resource, str) and resource.startswith("{%"):
        resource = await data.eval_jsonata(resource, "Resource")
    timeout = await _seconds(data, state, "TimeoutSeconds", effective)
    heartbeat = await _seconds(data, state, "HeartbeatSeconds", effective)
    if timeout is not None and heartbeat is not None and heartbeat >= timeout:
        # As the definition's own literals are refused (the heartbeat would never lapse).
        raise EvaluationError(
            RUNTIME,
            f"The HeartbeatSeconds value ({int(heartbeat)}) must be smaller than the "
            f"TimeoutSeconds value ({int(timeout)})",
        )
    timeout = timeout or DEFAULT_TIMEOUT
    if resource.endswith(".waitForTaskToken"):
        token = frame.phase.setdefault("task_token", new_token())
        data.context["Task"] = {"Token": token}
    arguments = await data.arguments(state, effective)
    mock: dict[str, Any] | None = getattr(run, "mock", None)  # TestState's mocked call
    if mock is not None and frame.key == "":
        result = _mocked(mock)
    elif ":activity:" in resource:
        result = await _activity(run, frame, name, resource, arguments, timeout, heartbeat)
    else:
        run.engine.integrations.require(resource)
        call = TaskCall(
            resource=resource,
            arguments=arguments,
            state_name=name,
            execution_arn=run.arn,
            frame_key=frame.key,
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
            context=data.context,
            task_token=frame.phase.get("task_token"),
        )
        result = await _integration(run, frame, call)
    result = data.select_result(state, result)
    await data.assign(state.get("Assign"), result)
    return Outcome(
        await data.output(state, result), None if state.get("End") else state.get("Next")
    )


def _mocked(mock: dict[str, Any]) -> Any:
    """A mocked call's result (TestState ``mock``): its ``result`` (JSON text), or its
    ``errorOutput`` raised as the task's error."""
    if "errorOutput" in mock:
        failure = mock["errorOutput"]
        raise StatesError(str(failure.get("error", "")), failure.get("cause"))
    return json.loads(mock["result"])


def describe_resource(resource: str) -> tuple[str, str]:
    """(resourceType, resource) as Task* history events name them."""
    if resource.startswith("arn:aws:states:::"):
        rest = resource[len("arn:aws:states:::") :]
        head, _, version = rest.rpartition(":")
        if head and version.isdigit():  # ``states:startExecution.sync:2``: the action keeps it
            service, _, action = head.rpartition(":")
            return service, f"{action}:{version}"
        service, _, action = rest.rpartition(":")
        return service, action
    if resource.startswith("arn:aws:lambda:"):
        return "lambda", resource
    return "unknown", resource


def report_submitted(run: ExecutionRun, frame: FrameRow, call: TaskCall, output: Any) -> None:
    """Record that a ``.sync`` integration started the job it now waits on: a
    ``TaskSubmitted`` event with the start call's response (AWS's history between
    TaskStarted and the task's end), once per attempt: a rerun after a restart that finds
    the same job records nothing again. A ``.waitForTaskToken`` call records its own."""
    if call.task_token is not None or "task_submitted" in frame.phase:
        return
    frame.phase["task_submitted"] = True
    resource_type, short = describe_resource(call.resource)
    details = {"resourceType": resource_type, "resource": short}
    run.commit(
        frame, [Event("TaskSubmitted", {**details, **payload_details("output", dumps(output))})]
    )


def _is_function_arn(resource: str) -> bool:
    """A Lambda function's ARN as the ``Resource`` (not the ``lambda:invoke`` integration)."""
    return resource.startswith("arn:aws:lambda:")


def _scheduled(run: ExecutionRun, call: TaskCall, ids: dict[str, Any]) -> list[Event]:
    """The events that open a call: ``TaskScheduled`` and ``TaskStarted`` for a service
    integration; ``LambdaFunctionScheduled`` (the function's ARN and its input) and
    ``LambdaFunctionStarted`` (no details) for a function ARN, as AWS records them."""
    timeout = None if call.timeout_seconds == DEFAULT_TIMEOUT else int(call.timeout_seconds)
    if _is_function_arn(call.resource):
        called = {"resource": call.resource, **payload_details("input", dumps(call.arguments))}
        if timeout is not None:
            called["timeoutInSeconds"] = timeout
        return [Event("LambdaFunctionScheduled", called), Event("LambdaFunctionStarted")]
    details: dict[str, Any] = {
        **ids,
        "region": run.engine.arns.region,
        "parameters": dumps(call.arguments),
    }
    if timeout is not None:
        details["timeoutInSeconds"] = timeout
    if call.heartbeat_seconds is not None:
        details["heartbeatInSeconds"] = int(call.heartbeat_seconds)
    return [Event("TaskScheduled", details), Event("TaskStarted", ids)]


async def _integration(run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
    resource_type, short = describe_resource(call.resource)
    ids: dict[str, Any] = {"resourceType": resource_type, "resource": short}
    # A function ARN's call ends in LambdaFunction{Succeeded,Failed,TimedOut}, without ids.
    kind = "Task"
    if _is_function_arn(call.resource):
        kind, ids = "LambdaFunction", {}
    if "task_scheduled" not in frame.phase:
        frame.phase["task_scheduled"] = True
        run.commit(frame, _scheduled(run, call, ids))
    waits = call.task_token is not None
    if "task_result" in frame.phase:  # resumed after the result was recorded
        return frame.phase["task_result"]
    if waits and "task_submitted" not in frame.phase:
        with run.engine.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO activity_tasks (token, activity_arn, execution_arn, frame_key,"
                " input, status, scheduled_at, started_at, last_heartbeat, timeout_seconds,"
                " heartbeat_seconds) VALUES (?, ?, ?, ?, ?, 'STARTED', ?, ?, ?, ?, ?)",
                (
                    call.task_token,
                    "callback:" + call.resource,
                    run.arn,
                    frame.key,
                    dumps(call.arguments),
                    run.engine.clock.now().timestamp(),
                    run.engine.clock.now().timestamp(),
                    run.engine.clock.now().timestamp(),
                    call.timeout_seconds,
                    call.heartbeat_seconds,
                ),
            )
    if not waits or "task_submitted" not in frame.phase:
        try:
            result = await asyncio.wait_for(
                run.engine.integrations.invoke(run, frame, call), timeout=call.timeout_seconds
            )
        except TimeoutError:
            run.commit(frame, [Event(f"{kind}TimedOut", {**ids, "error": TIMEOUT})])
            raise StatesError(TIMEOUT, None)
        except EvaluationError:
            raise
        except StatesError as err:
            failed: dict[str, Any] = {**ids, "error": err.error}
            if err.cause is not None:
                failed["cause"] = err.cause
            run.commit(frame, [Event(f"{kind}Failed", failed)])
            raise
        if not waits:
            frame.phase["task_result"] = result
            output = payload_details("output", dumps(result))
            run.commit(frame, [Event(f"{kind}Succeeded", {**ids, **output})])
            return result
        frame.phase["task_submitted"] = True
        run.commit(
            frame, [Event("TaskSubmitted", {**ids, **payload_details("output", dumps(result))})]
        )
    assert call.task_token is not None
    try:
        return await _await_activity(run, frame, call.task_token, kind="Task", ids=ids)
    finally:
        run.engine.activities.forget(call.task_token)


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
    scheduled: TaskRow | None = None
    if token is None:
        if not queue.exists(arn):
            raise EvaluationError(RUNTIME, f"The activity {arn} does not exist.")
        token = new_token()
        # The state's own input (no Parameters): the checkpoint's text of it is reused.
        text = (
            run.engine.store.input_text(run.arn, frame)
            if arguments is frame.input
            else dumps(arguments)
        )
        details: dict[str, Any] = {"resource": arn, **payload_details("input", text)}
        if timeout != DEFAULT_TIMEOUT:
            details["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            details["heartbeatInSeconds"] = int(heartbeat)
        frame.phase["task_token"] = token
        with run.engine.db.transaction() as conn:
            scheduled = queue.schedule_sql(
                conn,
                token=token,
                activity_arn=arn,
                execution_arn=run.arn,
                frame_key=frame.key,
                input=text,
                now=run.engine.clock.now(),
                timeout_seconds=timeout,
                heartbeat_seconds=heartbeat,
            )
            run.commit(frame, [Event("ActivityScheduled", details)])
        queue.notify(arn)
    try:
        return await _await_activity(run, frame, token, task=scheduled)
    finally:
        queue.forget(token)


async def _await_activity(
    run: ExecutionRun,
    frame: FrameRow,
    token: str,
    *,
    kind: str = "Activity",
    ids: dict[str, Any] | None = None,
    task: TaskRow | None = None,
) -> Any:
    """Wait for a worker's (or a callback's) result, a timeout or a heartbeat lapse.

    ``task`` is the row when the caller has just written it (saves reading it back).
    """
    ids = ids or {}
    queue = run.engine.activities
    clock = run.engine.clock
    wake = queue.result_event(token)
    if task is None:
        task = queue.get(token)
    while True:
        timed_out = frame.phase.get("task_timed_out")
        if timed_out is not None:  # resumed after the TimedOut event was recorded
            raise _timeout_error(heartbeat=timed_out == "heartbeat")
        if task is None:  # the execution was deleted under us
            raise StatesError(RUNTIME, "The activity task disappeared.")
        done_before = frame.phase.get("task_done", False)
        frame.phase["task_done"] = True
        if task.status == "SUCCEEDED":
            if done_before:  # resumed after the event was recorded
                return json.loads(task.output or "null")
            run.commit(
                frame,
                [
                    Event(
                        f"{kind}Succeeded",
                        {**ids, **payload_details("output", task.output or "null")},
                    )
                ],
            )
            return json.loads(task.output or "null")
        if task.status == "FAILED":
            if done_before:
                raise StatesError(task.error or "", task.cause)
            details = dict(ids)
            if task.error is not None:
                details["error"] = task.error
            if task.cause is not None:
                details["cause"] = task.cause
            run.commit(frame, [Event(f"{kind}Failed", details)])
            raise StatesError(task.error or "", task.cause)
        deadline = datetime.fromtimestamp(task.scheduled_at, clock.now().tzinfo) + timedelta(
            seconds=task.timeout_seconds or DEFAULT_TIMEOUT
        )
        beat_lapse = None
        beating = task.status in ("STARTED", "CLOSED")  # CLOSED: by the lapse below
        if beating and task.heartbeat_seconds and task.last_heartbeat is not None:
            beat_lapse = datetime.fromtimestamp(
                task.last_heartbeat, clock.now().tzinfo
            ) + timedelta(seconds=task.heartbeat_seconds)
        frame.phase.pop("task_done", None)
        limit = min(deadline, beat_lapse) if beat_lapse else deadline
        if task.status == "CLOSED":  # closed for a lapse, then the server stopped
            limit = min(limit, clock.now())
        if clock.now() >= limit:
            queue.close(token)
            heartbeat_lapsed = beat_lapse is not None and beat_lapse <= deadline
            frame.phase["task_timed_out"] = "heartbeat" if heartbeat_lapsed else "timeout"
            run.commit(frame, [Event(f"{kind}TimedOut", {**ids, "error": TIMEOUT})])
            raise _timeout_error(heartbeat=heartbeat_lapsed)
        wake.clear()
        timer = clock.call_at(limit, wake.set)  # a timer, not a sleeping task: cheaper
        try:
            await wake.wait()
        finally:
            timer.cancel()
        # A worker's result or claim hands its row over; a lapsed timer re-reads it.
        task = queue.woken(token) or queue.get(token)


def _timeout_error(*, heartbeat: bool) -> StatesError:
    """``States.Timeout``, as AWS records a lapsed timeout or heartbeat; a heartbeat's
    also matches ``States.HeartbeatTimeout`` in a Retry or Catch."""
    err = StatesError(TIMEOUT, None)
    if heartbeat:
        err.also_matches = frozenset({HEARTBEAT_TIMEOUT})  # type: ignore[attr-defined]
    return err
