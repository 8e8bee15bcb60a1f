"""The optimized Step Functions integration: a state machine starting another one.

``arn:aws:states:::states:startExecution`` (request-response: StartExecution's
response), ``.sync`` (wait for the child to end: DescribeExecution's response, its
``Input``/``Output`` as JSON text), ``.sync:2`` (the same with ``Input``/``Output``
as JSON values) and ``.waitForTaskToken`` (start it, then wait for a callback).
It lives beside the API because it starts executions as StartExecution does (a
state machine, version or alias ARN; the name and input checked alike); the
assembly registers it on the engine once the API's context exists.

A child that ends FAILED, TIMED_OUT or ABORTED fails a ``.sync`` state with
``States.TaskFailed``, its description as the cause. A ``.sync`` state that ends
first (the parent stopped, its TimeoutSeconds) stops the child; a server that shuts
down leaves it running. Without a ``Name``, the child's name is derived from the
parent, the state's entry and its attempt, so a ``.sync`` state run again after a
restart finds the child it started (StartExecution's idempotency) instead of
starting a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any

from montemap.api.actions.base import Context
from montemap.api.actions.executions import describe_execution, start_execution
from montemap.api.errors import to_api_error
from montemap.api.protocol import epoch_seconds
from montemap.engine.dataflow import dumps
from montemap.engine.entry_keys import entry_key
from montemap.engine.errors import EngineRefusal
from montemap.engine.tasks import report_submitted
from montemap.errors import RUNTIME, ApiError, MontemapError, StatesError

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow
    from montemap.engine.tasks import TaskCall

PREFIX = "arn:aws:states:::states:startExecution"
_PATTERNS = ("", ".sync", ".sync:2", ".waitForTaskToken")
#: What DescribeExecution reports as dates (epoch seconds) and the task returns in ms.
_DATES = ("startDate", "stopDate", "redriveDate")
TASK_FAILED = "States.TaskFailed"


def child_name(run: ExecutionRun, frame: FrameRow) -> str:
    """The name a child started without ``Name`` gets: the same for the same parent,
    state entry, attempt and redrive (so a rerun finds it), a UUID's form."""
    return str(uuid.UUID(bytes=entry_key(run, frame)[:16]))


def _input_text(arguments: dict[str, Any]) -> str:
    """``Input`` as StartExecution takes it: a string is the JSON text, else its JSON."""
    value = arguments.get("Input", {})
    return value if isinstance(value, str) else dumps(value)


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    return value


def _millis(seconds: float) -> int:
    return round(seconds * 1000)


def task_result(described: dict[str, Any], *, json_values: bool) -> dict[str, Any]:
    """DescribeExecution's response as the ``.sync`` task returns it (``json_values``:
    ``.sync:2``, its Input and Output parsed)."""
    out = dict(described)
    for key in _DATES:
        if isinstance(out.get(key), (int, float)):
            out[key] = _millis(out[key])
    result: dict[str, Any] = _pascal(out)
    if json_values:  # parsed after the names: the data keeps its own
        for key in ("Input", "Output"):
            if isinstance(result.get(key), str):
                result[key] = json.loads(result[key])
    return result


def _states_error(exc: ApiError) -> StatesError:
    code = exc.code if exc.code.endswith("Exception") else f"{exc.code}Exception"
    return StatesError(f"StepFunctions.{code}", exc.message)


class StartExecutionIntegration:
    """``arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]``."""

    prefix = PREFIX

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, run: ExecutionRun, frame: FrameRow, call: TaskCall) -> Any:
        pattern = call.resource[len(PREFIX) :]
        if not call.resource.startswith(PREFIX) or pattern not in _PATTERNS:
            supported = ", ".join(PREFIX + p for p in _PATTERNS)
            raise StatesError(
                RUNTIME, f"The resource '{call.resource}' is not supported ({supported})."
            )
        arguments = call.arguments
        if not isinstance(arguments, dict) or not isinstance(arguments.get("StateMachineArn"), str):
            raise StatesError(
                RUNTIME, "states:startExecution needs the parameter StateMachineArn (a string)."
            )
        arn, started = await self._start(run, frame, arguments)
        response = {"ExecutionArn": arn, "StartDate": _millis(started)}
        if not pattern.startswith(".sync"):
            return response
        report_submitted(run, frame, call, response)
        try:
            await run.engine.wait_for(arn, ours=True)
        except asyncio.CancelledError:
            if not run.engine.closing:  # the state ended first: stop the child (not on shutdown)
                with contextlib.suppress(MontemapError):
                    await run.engine.stop_execution(arn, error=None, cause=None)
            raise
        described = await describe_execution(self.ctx, {"executionArn": arn})
        result = task_result(described, json_values=pattern == ".sync:2")
        if described["status"] != "SUCCEEDED":
            raise StatesError(TASK_FAILED, dumps(result))
        return result

    async def _start(
        self, run: ExecutionRun, frame: FrameRow, arguments: dict[str, Any]
    ) -> tuple[str, float]:
        """Start the child (or find the one a first run of this state started): its ARN
        and start date (epoch seconds)."""
        derived = "Name" not in arguments
        name = child_name(run, frame) if derived else arguments["Name"]
        text = _input_text(arguments)
        params = {"stateMachineArn": arguments["StateMachineArn"], "name": name, "input": text}
        try:
            started = await start_execution(self.ctx, params)
        except ApiError as exc:
            raise _states_error(exc) from None
        except EngineRefusal as exc:
            refusal = to_api_error(exc)
            if derived and refusal.code == "ExecutionAlreadyExists":
                found = self._ended_child(getattr(exc, "arn", ""))
                if found is not None:
                    return found
            raise _states_error(refusal) from None
        return str(started["executionArn"]), float(started["startDate"])

    def _ended_child(self, arn: str) -> tuple[str, float] | None:
        """The child a first run of this state started (the rerun after a restart): its
        name, derived from the state's entry, is the proof; its input may differ when
        the rerun evaluated the parameters anew (``States.UUID()``, a time)."""
        try:
            record = self.ctx.engine.describe_execution(arn)
        except MontemapError:
            return None
        return record.execution_arn, epoch_seconds(record.start_date)
